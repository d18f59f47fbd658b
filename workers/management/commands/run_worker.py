from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from workers.runner import work_forever


class Command(BaseCommand):
    help = "Run a Gearman worker serving every registered job function (SIGTERM finishes the current job)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--servers",
            default=",".join(settings.GEARMAN_SERVERS),
            help="comma-separated gearmand host:port list",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        servers = [s.strip() for s in options["servers"].split(",") if s.strip()]
        work_forever(servers)
