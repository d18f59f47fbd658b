from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from ops.backups import backup_redis, list_redis_backups


class Command(BaseCommand):
    help = "Dump the Redis replica (BGSAVE) and upload the dump to the object store. --list shows the dumps."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--list", action="store_true", help="list the Redis dumps instead")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["list"]:
            keys = list_redis_backups()
            self.stdout.write(f"{len(keys)} Redis dumps in s3://{settings.BACKUP_BUCKET}")
            for key in keys:
                self.stdout.write(key)
            return
        key = backup_redis(lambda line: self.stdout.write(f"backup_redis: {line}"))
        self.stdout.write(self.style.SUCCESS(f"backup_redis: {key}"))
