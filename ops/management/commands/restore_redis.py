from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ops.backups import restore_redis
from ops.layout import topology


class Command(BaseCommand):
    help = (
        "Replace the Redis primary's data with a dump from the object store (default: the newest); "
        "the replica follows with a full resync. Redis is down for the few seconds of the swap."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--key", help="the dump's key, as `backup_redis --list` shows it")

    def handle(self, *args: Any, **options: Any) -> None:
        key = restore_redis(
            topology(),
            key=options["key"],
            progress=lambda line: self.stdout.write(f"restore_redis: {line}"),
        )
        self.stdout.write(self.style.SUCCESS(f"restore_redis: restored {key}"))
