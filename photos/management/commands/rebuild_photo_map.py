from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from instagram.progress import progress
from instagram.redis_client import redis_primary
from photos.models import Media
from photos.photomap import remember_owners
from sharding.routing import shard_map, use_shard

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
        batch: int = options["batch"]
        count = len(shard_map(max_age=0).databases)
        client = redis_primary()
        total = 0
        for shard in progress(range(count), total=count, label="rebuilding the photo map"):
            last_id = 0
            while True:
                # One short read-only transaction per batch (on the standby
                # unless it is down): a long one would hold back its cleanup,
                # or be cancelled by replay conflicts. Keyset pagination keeps
                # every batch an index range scan, however deep into the shard.
                with use_shard(shard, read_only=True):
                    after = Media.objects.filter(id__gt=last_id).order_by("id")
                    rows = list(after.values_list("id", "user_id")[:batch])
                if not rows:
                    break
                pipe = client.pipeline(transaction=False)
                total += remember_owners(rows, pipe=pipe)
                pipe.execute()
                last_id = rows[-1][0]
                if len(rows) < batch:
                    break
        self.stdout.write(f"photo map: {total} media of {count} shards written")
