from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ops.layout import superuser_connection, topology
from ops.postgres import release_sync_standby, require_sync_standby
from ops.topology import TopologyError


class Command(BaseCommand):
    help = (
        "Show or change whether commits on the PostgreSQL primary wait for the standby. "
        "`off` when the standby is gone for long (commits would wait for it forever); "
        "`on` once it streams again (rebuild_standby and failover turn it on themselves)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("state", nargs="?", choices=["on", "off"])

    def handle(self, *args: Any, **options: Any) -> None:
        t = topology()
        try:
            primary, standby = t.pg_roles()
            if options["state"] == "on":
                require_sync_standby(t, timeout=30)
            elif options["state"] == "off":
                release_sync_standby(t)
        except TopologyError as exc:
            raise CommandError(str(exc)) from exc
        with superuser_connection(t, primary) as conn:
            names = conn.execute("SHOW synchronous_standby_names").fetchone()
            rows = conn.execute(
                "SELECT application_name, state, sync_state FROM pg_stat_replication"
            ).fetchall()
        mode = f"synchronous ({names[0]})" if names and names[0] else "asynchronous"
        self.stdout.write(f"primary {primary}: commits are {mode}")
        for name, state, sync_state in rows:
            self.stdout.write(f"  standby {name}: {state}, {sync_state}")
        if not rows:
            self.stdout.write(f"  no standby connected ({standby} should be)")
