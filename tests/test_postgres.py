"""PostgreSQL is reached only through pgbouncer, and the standby follows the primary."""

import uuid

import psycopg
from django.conf import settings
from django.db import connections

from instagram.pgbouncer import pgbouncer_console
from tests.conftest import Stack, wait_for
from users.models import User


def pgbouncer_stats(database: str) -> dict[str, int]:
    for stats in pgbouncer_console("SHOW STATS"):
        if stats["database"] == database:
            return {k: int(str(v)) for k, v in stats.items() if k != "database"}
    raise AssertionError(f"pgbouncer has no stats for {database}")


def direct(stack: Stack, *, port: int) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host="127.0.0.1",
        port=port,
        dbname="instagram_main",
        user=settings.DB_USER,
        password=settings.DB_PASSWORD,
        autocommit=True,
    )


def test_django_reaches_postgres_through_pgbouncer_in_transaction_mode(stack: Stack) -> None:
    assert settings.DATABASES["default"]["PORT"] == stack.profile.pgbouncer
    before = pgbouncer_stats("main")
    username = f"pgb_{uuid.uuid4().hex[:12]}"
    User.objects.create(username=username)
    assert User.objects.filter(username=username).exists()
    after = pgbouncer_stats("main")
    assert after["total_xact_count"] >= before["total_xact_count"] + 2
    pools = [row for row in pgbouncer_console("SHOW POOLS") if row["database"] == "main"]
    assert pools
    assert {row["pool_mode"] for row in pools} == {"transaction"}
    main = next(row for row in pgbouncer_console("SHOW DATABASES") if row["name"] == "main")
    assert main["port"] == stack.profile.pg_primary


def test_a_row_written_through_django_appears_on_the_standby(stack: Stack) -> None:
    username = f"repl_{uuid.uuid4().hex[:12]}"
    User.objects.create(username=username)
    with direct(stack, port=stack.profile.pg_standby) as standby:
        in_recovery = standby.execute("SELECT pg_is_in_recovery()").fetchone()
        assert in_recovery == (True,)

        def replicated() -> bool:
            row = standby.execute(
                "SELECT count(*) FROM users_user WHERE username = %s", [username]
            ).fetchone()
            return row == (1,)

        wait_for(replicated, timeout=10)


def test_replica_alias_reads_the_standby_through_pgbouncer(stack: Stack) -> None:
    with connections["default_replica"].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery(), current_setting('port')::int")
        assert cursor.fetchone() == (True, stack.profile.pg_standby)


def test_shard_databases_exist_on_the_primary(stack: Stack) -> None:
    assert settings.SHARD_DATABASES == ["shard0", "shard1"]
    for alias in settings.SHARD_DATABASES:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT current_database(), pg_is_in_recovery()")
            assert cursor.fetchone() == (f"instagram_{alias}", False)


def test_no_session_state_leaks_between_pooled_transactions(stack: Stack) -> None:
    """Timezone is a per-database default, so Django never issues a session SET."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SHOW timezone")
        assert cursor.fetchone() == ("UTC",)
    assert connections["default"].connection.info.parameter_status("TimeZone") == "UTC"


def test_a_kept_connection_pgbouncer_dropped_is_replaced_before_a_request_uses_it(stack: Stack) -> None:
    """Django's per-request health check (instagram.postgresql) reads the socket, not `SELECT 1`:
    a connection pgbouncer closed while it sat idle is seen as unusable and replaced, so the
    next request's first statement runs on a new one instead of failing."""
    connection = connections["default"]
    connection.close()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    queries = pgbouncer_stats("main")["total_query_count"]
    assert all(connection.is_usable() for _ in range(20))
    # No statement of their own (`SELECT 1` would be 20); the workers' relay may poll meanwhile.
    assert pgbouncer_stats("main")["total_query_count"] - queries < 10
    pgbouncer_console("KILL main")  # drops every client connection to the main database
    try:
        wait_for(lambda: not connection.is_usable(), timeout=5)
    finally:
        pgbouncer_console("RESUME main")
    connection.health_check_done = False  # type: ignore[attr-defined]  # as when a request starts
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM users_user")
        assert cursor.fetchone() is not None
    assert connection.is_usable()
