from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sharding.actions import do_move_shard
from sharding.move import MoveError


class Command(BaseCommand):
    help = (
        "Move one logical shard to another physical database while it keeps serving: copy, "
        "catch up, freeze its writes for the cut-over, flip the map, verify, drop the old copy."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("shard", type=int)
        parser.add_argument("database", help="target database alias, e.g. shard1")
        parser.add_argument("--keep-source", action="store_true", help="leave the old copy (write-refusing)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            do_move_shard(
                options["shard"],
                target_alias=options["database"],
                keep_source=options["keep_source"],
                say=self.stdout.write,
            )
        except MoveError as exc:
            raise CommandError(str(exc)) from exc
