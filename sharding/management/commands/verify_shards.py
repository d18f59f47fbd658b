from typing import Any

from django.core.management.base import BaseCommand, CommandError

from instagram.progress import progress
from sharding.routing import shard_map
from sharding.selectors import shard_definition, shard_problems


class Command(BaseCommand):
    help = "Check every logical shard: schema present, next_id() present, same tables as shard 0."

    def handle(self, *args: Any, **options: Any) -> None:
        count = len(shard_map(max_age=0).databases)
        reference = shard_definition(0)
        problems: list[str] = []
        for shard in progress(range(count), total=count, label="verifying shards"):
            problems.extend(shard_problems(shard, reference=reference))
        for problem in problems:
            self.stderr.write(problem)
        if problems:
            raise CommandError(f"{len(problems)} problems in {count} shards")
        self.stdout.write(f"{count} shards verified: {len(reference)} columns each, next_id() present")
