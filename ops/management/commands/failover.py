from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ops.layout import topology
from ops.postgres import failover


class Command(BaseCommand):
    help = (
        "Promote the PostgreSQL standby to primary, point pgbouncer at it, and rebuild the old "
        "primary as the new standby. Without --planned the primary must be down."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--planned",
            action="store_true",
            help="switchover: shut the running primary down cleanly first (loses nothing)",
        )
        parser.add_argument(
            "--force", action="store_true", help="fail over even though the primary answers (it is fenced)"
        )
        parser.add_argument(
            "--no-rebuild",
            action="store_true",
            help="leave the old primary stopped (rebuild it later with manage.py rebuild_standby)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        failover(
            topology(),
            planned=options["planned"],
            force=options["force"],
            rebuild=not options["no_rebuild"],
            progress=lambda line: self.stdout.write(f"failover: {line}"),
        )
        self.stdout.write(self.style.SUCCESS("failover: done"))
