from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from instagram.progress import progress
from sharding.actions import do_migrate_shard


class Command(BaseCommand):
    help = (
        "Apply pending migrations of sharded models to every logical shard, one transaction "
        "per shard; an interrupted run resumes where it stopped."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = settings.LOGICAL_SHARDS
        changed = 0
        for shard in progress(range(count), total=count, label="migrating shards"):
            if do_migrate_shard(shard):
                changed += 1
        self.stdout.write(f"{changed} of {count} shards migrated, the rest were up to date")
