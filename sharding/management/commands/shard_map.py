from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from instagram.progress import progress
from sharding.routing import shard_map
from sharding.selectors import shard_row_counts

TABLES = ["media"]


class Command(BaseCommand):
    help = "Print the shard map as ranges per database, and with --counts the rows per shard."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--counts", action="store_true", help="count rows in every shard")

    def handle(self, *args: Any, **options: Any) -> None:
        databases = shard_map(max_age=0).databases
        start = 0
        for shard in range(1, len(databases) + 1):
            if shard == len(databases) or databases[shard] != databases[start]:
                self.stdout.write(f"shards {start:>4}-{shard - 1:<4} -> {databases[start]}")
                start = shard
        self.stdout.write(", ".join(f"{db}: {n} shards" for db, n in sorted(Counter(databases).items())))
        if options["counts"]:
            totals: Counter[str] = Counter()
            for shard in progress(range(len(databases)), total=len(databases), label="counting"):
                counts = shard_row_counts(shard, TABLES)
                totals.update(counts)
                if any(counts.values()):
                    self.stdout.write(f"shard {shard:>4} {databases[shard]}: {counts}")
            self.stdout.write(f"total: {dict(totals)}")
