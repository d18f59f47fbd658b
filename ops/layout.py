"""The servers the ops commands act on: the stack deploy/stack.py runs.

The commands run on the database and Redis host (fab failover and fab backup
call them there). Locally that host is the stack of the profile named by
IG_ENVIRONMENT: its supervisord, its data folders and its ports.
"""

from collections.abc import Callable

import psycopg
from django.conf import settings
from django.core.management.base import CommandError

from deploy import stack
from instagram.pgbouncer import pgbouncer_console

Progress = Callable[[str], None]


def stack_profile() -> stack.Profile:
    """Return the stack these commands drive, or fail naming the known ones."""
    try:
        return stack.PROFILES[settings.ENVIRONMENT]
    except KeyError:
        raise CommandError(
            f"IG_ENVIRONMENT={settings.ENVIRONMENT!r} names no stack of deploy/stack.py "
            f"({', '.join(sorted(stack.PROFILES))}); load its settings with `set -a; . var/<profile>/env`"
        ) from None


def superuser_connection(
    p: stack.Profile, node: str, *, timeout: int = 2
) -> psycopg.Connection[tuple[object, ...]]:
    """Connect to `node` as the superuser, over the stack's own unix socket (not pgbouncer)."""
    return psycopg.connect(
        host=str(p.var / "run"),
        port=stack.pg_port(p, node),
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
