"""Backups into the object store, restored for real: PostgreSQL to a point in time, Redis from a dump."""

import io
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from pathlib import Path

import psycopg
import pytest
import redis
from django.conf import settings
from django.core.management import call_command

from deploy.localstack.postgres import MAIN_DB, pg_roles
from instagram.redis_client import redis_primary, redis_replica
from ops import backups
from ops.layout import superuser_connection, topology
from tests.conftest import Stack, wait_for
from users.models import User

pytestmark = pytest.mark.disruptive


def command(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def scratch(stack: Stack) -> Iterator[Path]:
    """A data folder the service user can reach (not under pytest's root-only tmp), removed after."""
    folder = stack.profile.var / f"restore-{uuid.uuid4().hex[:8]}"
    yield folder
    if (folder / "postmaster.pid").exists():
        backups.stop_restored(topology(), folder)
    shutil.rmtree(folder, ignore_errors=True)


def archive_current_wal(stack: Stack) -> None:
    """Close the current WAL segment and wait until the archiver has shipped it."""
    primary = pg_roles(stack.profile)[0]
    with superuser_connection(topology(), primary) as conn:
        row = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
        assert row is not None
        segment = str(row[0])

        def archived() -> bool:
            status = conn.execute(
                "SELECT last_archived_wal, last_failed_wal FROM pg_stat_archiver"
            ).fetchone()
            assert status is not None
            return status[0] is not None and str(status[0]) >= segment

        wait_for(archived, timeout=60, interval=0.2)


def test_a_restore_to_a_point_in_time_has_what_was_committed_before_it_and_nothing_after(
    stack: Stack, scratch: Path
) -> None:
    started = time.monotonic()
    output = command("backup_postgres")
    backup_id = output.strip().splitlines()[-1].split()[-1]
    assert backup_id in command("backup_postgres", "--list")

    tag = uuid.uuid4().hex[:8]
    before = [f"pitr_{tag}_before_{n}" for n in range(3)]
    after = [f"pitr_{tag}_after_{n}" for n in range(3)]
    User.objects.bulk_create([User(username=name) for name in before])
    with superuser_connection(topology(), pg_roles(stack.profile)[0]) as conn:
        time.sleep(0.5)  # commit timestamps clearly on either side of the target
        row = conn.execute("SELECT clock_timestamp()").fetchone()
        assert row is not None
        target = row[0]
        assert isinstance(target, datetime)
        time.sleep(0.5)
    User.objects.bulk_create([User(username=name) for name in after])
    archive_current_wal(stack)

    port = free_port()
    restored = command(
        "restore_postgres", "--into", str(scratch), "--port", str(port), "--target-time", target.isoformat()
    )
    assert f"base backup {backup_id}" in restored
    with psycopg.connect(
        host="127.0.0.1",
        port=port,
        dbname=MAIN_DB,
        user=settings.DB_USER,
        password=settings.DB_PASSWORD,
        autocommit=True,
    ) as conn:
        rows = conn.execute(
            "SELECT username FROM users_user WHERE username LIKE %s ORDER BY username", [f"pitr_{tag}_%"]
        ).fetchall()
        in_recovery = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    assert [name for (name,) in rows] == sorted(before)
    assert in_recovery == (False,)
    assert User.objects.filter(username__in=before + after).count() == 6  # the live cluster has all
    command("restore_postgres", "--stop", "--into", str(scratch))
    assert not (scratch / "postmaster.pid").exists()
    print(
        f"point-in-time restore: backup, 6 rows, restore to between them in {time.monotonic() - started:.1f}s"
    )


def test_a_redis_dump_from_the_object_store_brings_back_the_data_as_it_was(stack: Stack) -> None:
    key, added = f"ig:test:backup:{uuid.uuid4().hex}", f"ig:test:backup:{uuid.uuid4().hex}"
    primary, replica = redis_primary(), redis_replica()
    primary.set(key, "before")
    wait_for(lambda: replica.get(key) == b"before")

    dump = command("backup_redis").strip().splitlines()[-1].split()[-1]
    assert dump.startswith("redis/")
    assert dump in command("backup_redis", "--list")
    primary.set(key, "after")
    primary.set(added, "later")

    assert f"restored {dump}" in command("restore_redis", "--key", dump)

    for client in (primary, replica):  # the restart dropped their connections: the first call may fail
        assert wait_for(partial(reconnected, client, "get", key), timeout=30) == b"before"
        assert client.exists(added) == 0
    primary.delete(key)


def reconnected(client: redis.Redis, method: str, *args: str) -> object:
    """Call `method` on `client`; None when the connection was dropped (wait_for calls again)."""
    try:
        return getattr(client, method)(*args)
    except redis.ConnectionError:
        return None
