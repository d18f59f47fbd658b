"""The servers the ops commands act on, from the topology file named by IG_TOPOLOGY.

The commands run on the database and Redis host (fab failover and fab backup
call them there). deploy/stack.py writes the file for a local stack, `fab
setup` for a real host; ops/topology.py reads it.
"""

from collections.abc import Callable
from pathlib import Path

import psycopg
from django.conf import settings
from django.core.management.base import CommandError

from instagram.pgbouncer import pgbouncer_console
from ops.topology import Topology, TopologyError, load

Progress = Callable[[str], None]


def topology() -> Topology:
    """Return the topology of this host, or fail saying how to name it."""
    if not settings.TOPOLOGY:
        raise CommandError(
            "IG_TOPOLOGY names no topology file: load a local stack's settings with "
            "`set -a; . var/<profile>/env`, or run `fab setup` for a real host"
        )
    try:
        return load(Path(settings.TOPOLOGY))
    except TopologyError as exc:
        raise CommandError(str(exc)) from exc


def superuser_connection(
    t: Topology, node: str, *, timeout: int = 2
) -> psycopg.Connection[tuple[object, ...]]:
    """Connect to `node` as the superuser, over the host's own unix socket (not pgbouncer)."""
    return psycopg.connect(
        host=str(t.socket_dir),
        port=t.node(node).port,
        user="postgres",
        dbname="postgres",
        autocommit=True,
        connect_timeout=timeout,
    )


def pgbouncers() -> list[tuple[str, int]]:
    """Return the (host, port) of the pgbouncer of the primary's names, then of the standby's."""
    return [(settings.DB_HOST, settings.DB_PORT), (settings.DB_REPLICA_HOST, settings.DB_REPLICA_PORT)]


def pgbouncer_command(address: tuple[str, int], command: str) -> None:
    """Run `command` (RELOAD, PAUSE, RESUME) on the admin console of the pgbouncer at `address`."""
    pgbouncer_console(command, address=address)
