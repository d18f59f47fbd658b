from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ops.backups import restore_postgres, stop_restored
from ops.layout import topology


def moment(value: str) -> datetime:
    """Parse an ISO 8601 time; one without an offset is UTC."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Restore PostgreSQL as it was at --target-time into a scratch cluster (its own data folder "
        "and port, never the live nodes): a base backup from the object store, then archived WAL."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--into", type=Path, required=True, help="a new, empty data folder")
        parser.add_argument("--target-time", type=moment, help="ISO 8601, e.g. 2026-11-30T08:15:00Z")
        parser.add_argument("--port", type=int, help="port the restored cluster listens on (127.0.0.1)")
        parser.add_argument(
            "--backup-id", help="base backup to start from (default: the newest before the time)"
        )
        parser.add_argument("--stop", action="store_true", help="stop the cluster restored into --into")

    def handle(self, *args: Any, **options: Any) -> None:
        into: Path = options["into"].resolve()
        if options["stop"]:
            stop_restored(topology(), into)
            self.stdout.write(
                f"restore_postgres: stopped the cluster in {into} (remove the folder when done)"
            )
            return
        if options["target_time"] is None or options["port"] is None:
            raise CommandError("--target-time and --port are required to restore")
        restore_postgres(
            topology(),
            target_time=options["target_time"],
            into=into,
            port=options["port"],
            backup_id=options["backup_id"],
            progress=lambda line: self.stdout.write(f"restore_postgres: {line}"),
        )
