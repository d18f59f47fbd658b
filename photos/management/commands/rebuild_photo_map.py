from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from instagram.redis_client import feed_index_of_media, feed_primary, feed_shard_count
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
        total = 0
        for rows in scan_shards(
            Media.objects.all(), "id", "user_id", batch=options["batch"], label="rebuilding the photo map"
        ):
            # Each pair to its owner's feed shard (photos/photomap.py).
            for index in range(feed_shard_count()):
                mine = [
                    (media_id, user_id)
                    for media_id, user_id in rows
                    if feed_index_of_media(media_id) == index
                ]
                if mine:
                    pipe = feed_primary(index).pipeline(transaction=False)
                    total += remember_owners(mine, pipe=pipe)
                    pipe.execute()
        self.stdout.write(f"photo map: {total} media written")
