from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ops.backups import backup_postgres, list_postgres_backups, postgres_url
from ops.layout import topology


class Command(BaseCommand):
    help = (
        "Take a base backup of the PostgreSQL primary into the object store (barman-cloud-backup); "
        "WAL goes there continuously through archive_command. --list shows the backups."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--list", action="store_true", help="list the base backups instead")
        parser.add_argument(
            "--gzip", action="store_true", help="compress (costs the database host a CPU for minutes per GB)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["list"]:
            backups = list_postgres_backups()
            self.stdout.write(f"{len(backups)} base backups in {postgres_url()}")
            for backup in backups:
                self.stdout.write(
                    f"{backup.backup_id}  timeline {backup.timeline}  "
                    f"{backup.begin_time.isoformat()} .. {backup.end_time.isoformat()}"
                )
            return
        backup = backup_postgres(
            topology(), lambda line: self.stdout.write(f"backup_postgres: {line}"), gzip=options["gzip"]
        )
        self.stdout.write(self.style.SUCCESS(f"backup_postgres: {backup.backup_id}"))
