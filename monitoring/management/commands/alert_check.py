from typing import Any

from django.core.management.base import BaseCommand

from monitoring.alerts import StateStore, run_checks


class Command(BaseCommand):
    help = "Run every alert check once (health, fan-out lag); page or resolve through the Events API v2."

    def handle(self, *args: Any, **options: Any) -> None:
        for rule, sent in run_checks(StateStore()).items():
            self.stdout.write(f"{rule}: {sent or 'nothing sent'}")
