import logging
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from monitoring.alerts import StateStore, run_checks

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run the alert checks every ALERT_INTERVAL_SECONDS until SIGTERM or SIGINT."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=settings.ALERT_INTERVAL_SECONDS)

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
        signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
        # One store for the life of the loop: it keeps the state while Redis is down.
        store = StateStore()
        logger.info(
            "alert_watch: every %.0fs, %s and fan-out lag (over %.0fs), paging %s",
            options["interval"], settings.ALERT_HEALTH_URL, settings.ALERT_FANOUT_LAG_SECONDS,
            settings.PAGERDUTY_EVENTS_URL,
        )  # fmt: skip
        while not stop.is_set():
            run_checks(store)
            stop.wait(options["interval"])
