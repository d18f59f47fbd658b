from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from instagram.redis_client import redis_primary
from photos.models import Media
from photos.photomap import remember_owners
from sharding.selectors import scan_shards

BATCH = 5000


class Command(BaseCommand):
    help = (
        "Write every media's owner into the photo -> user map in Redis, read from the shards "
        "(after a Redis loss). Safe while the site runs: it only sets pairs, each to its true owner; "
        "it does not look for pairs of deleted media."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=BATCH, help="media read per query and pipeline")

    def handle(self, *args: Any, **options: Any) -> None:
        client = redis_primary()
        total = 0
        for rows in scan_shards(
            Media.objects.all(), "id", "user_id", batch=options["batch"], label="rebuilding the photo map"
        ):
            pipe = client.pipeline(transaction=False)
            total += remember_owners(rows, pipe=pipe)
            pipe.execute()
        self.stdout.write(f"photo map: {total} media written")
