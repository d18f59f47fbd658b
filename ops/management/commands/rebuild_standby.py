from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ops.layout import topology
from ops.postgres import rebuild_standby


class Command(BaseCommand):
    help = (
        "Rebuild the PostgreSQL node that is not the primary as its streaming standby "
        "(repmgr standby clone; a node that is no standby has its data moved aside first), "
        "then make commits wait for it again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--fresh", action="store_true", help="replace it even if it is a standby (too far behind, broken)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        rebuild_standby(
            topology(),
            lambda line: self.stdout.write(f"rebuild_standby: {line}"),
            fresh=options["fresh"],
        )
