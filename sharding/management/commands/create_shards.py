from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from instagram.progress import progress
from sharding.actions import do_bootstrap_shard, do_fill_shard_map, do_migrate_shard, shard_databases


class Command(BaseCommand):
    help = (
        "Create the logical shards: fill the shard map, then create each schema with its "
        "next_id() and tables. Idempotent: existing shards are left as they are."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = settings.LOGICAL_SHARDS
        added = do_fill_shard_map(logical_shards=count, databases=shard_databases())
        for shard in progress(range(count), total=count, label="creating shards"):
            do_bootstrap_shard(shard)
            do_migrate_shard(shard)
        self.stdout.write(
            f"{count} logical shards on {', '.join(shard_databases())} ({added} new in the map)"
        )
