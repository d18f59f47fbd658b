from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ops.layout import topology
from ops.postgres import after_automatic_promotion


class Command(BaseCommand):
    help = (
        "repmgr's event notification hook (event_notification_command in repmgr.conf): after "
        "repmgrd promoted a standby, record it as the primary, stop its commits waiting for a "
        "standby, and point pgbouncer at it (re-rendered, RELOADed). Other events are logged only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("node", help="the node the event happened on (repmgr's %%a, its node_name)")
        parser.add_argument("event", help="repmgr's event name (%%e)")
        parser.add_argument("success", help="1 when the action succeeded (%%s)")

    def handle(self, *args: Any, **options: Any) -> None:
        node, event, success = options["node"], options["event"], options["success"]
        self.stdout.write(f"repmgr_event: {event} on {node} (success={success})")
        if event == "repmgrd_failover_promote" and success == "1":
            after_automatic_promotion(
                topology(), node, lambda line: self.stdout.write(f"repmgr_event: {line}")
            )
