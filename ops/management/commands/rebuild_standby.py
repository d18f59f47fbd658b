from typing import Any

from django.core.management.base import BaseCommand

from ops.layout import stack_profile
from ops.postgres import rebuild_standby


class Command(BaseCommand):
    help = (
        "Rebuild the PostgreSQL node that is not the primary as its streaming standby "
        "(pg_basebackup; a node that is no standby has its data moved aside first), "
        "then make commits wait for it again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        rebuild_standby(stack_profile(), lambda line: self.stdout.write(f"rebuild_standby: {line}"))
