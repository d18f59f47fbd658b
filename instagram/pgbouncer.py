"""Connections through pgbouncer outside Django's ORM, and its admin console."""

from typing import Any

import psycopg
from django.conf import settings


def pgbouncer_console(command: str, *, address: tuple[str, int] | None = None) -> list[dict[str, Any]]:
    """Run `command` on the admin console of the pgbouncer at `address` (default: Django's).

    Return the rows it answers (none for RELOAD, PAUSE, RESUME). The console
    speaks only the simple query protocol, hence ClientCursor.
    """
    host, port = address or (settings.DB_HOST, settings.DB_PORT)
    with (
        psycopg.connect(
            host=host,
            port=port,
            dbname="pgbouncer",
            user=settings.DB_USER,
            password=settings.DB_PASSWORD,
            connect_timeout=2,
            autocommit=True,
            cursor_factory=psycopg.ClientCursor,
        ) as conn,
        conn.cursor() as cursor,
    ):
        cursor.execute(command)
        if cursor.description is None:
            return []
        columns = [c.name for c in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def pgbouncer_connection(alias: str) -> psycopg.Connection[tuple[Any, ...]]:
    """Open an autocommit connection to Django database `alias`, through pgbouncer.

    For tools that manage their own transactions (shard moves, benchmarks).
    No prepared statements: transaction pooling would hand them to another
    client (psycopg prepares a query after its 5th execution).
    """
    db = settings.DATABASES[alias]
    return psycopg.connect(
        host=str(db["HOST"]),
        port=int(str(db["PORT"])),
        dbname=str(db["NAME"]),
        user=str(db["USER"]),
        password=str(db["PASSWORD"]),
        autocommit=True,
        prepare_threshold=None,
    )
