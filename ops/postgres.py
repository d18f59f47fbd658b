"""PostgreSQL failover: promote the standby, repoint pgbouncer, rebuild a standby.

The two nodes keep their supervisord names, ports and data folders; only
their roles move. Which node is the primary is written in
var/<profile>/postgres-primary, so pgbouncer's configuration, rendered on
every `stack.py up`, follows the roles after a failover too.

The order of a failover is what keeps every acknowledged commit:

1. the old primary is fenced (stopped under supervisord, so its autorestart
   cannot bring back a second primary), after checking it is down, or after
   a clean shutdown for a planned switchover;
2. the standby, which flushed every acknowledged commit before the client got
   its answer (synchronous replication), is promoted;
3. the promoted node stops waiting for a standby it does not have yet, and
   pgbouncer is pointed at it (RELOAD). pgbouncer is PAUSEd around steps
   1-3 (the check that a crashed primary is down included), so clients wait
   for the new primary instead of failing;
4. the old primary's data is moved aside and the node is rebuilt from the new
   primary with pg_basebackup; once it streams, commits wait for it again.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.core.management.base import CommandError

from deploy import stack
from ops.layout import Progress, pgbouncer_command, pgbouncers, superuser_connection


def is_up(p: stack.Profile, node: str) -> bool:
    try:
        with superuser_connection(p, node) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


def in_recovery(p: stack.Profile, node: str) -> bool:
    with superuser_connection(p, node) as conn:
        row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    return bool(row and row[0])


def confirm_down(p: stack.Profile, node: str, *, attempts: int = 3, interval: float = 1.0) -> bool:
    """Return True when `node` refused every one of `attempts` connections, `interval` apart."""
    for attempt in range(attempts):
        if is_up(p, node):
            return False
        if attempt < attempts - 1:
            time.sleep(interval)
    return True


def _lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def latest_checkpoint(p: stack.Profile, node: str) -> int:
    """Return the LSN of the last checkpoint of a stopped node, from pg_controldata."""
    output = stack.run(
        [str(stack.PG_BIN / "pg_controldata"), str(stack.pg_datadir(p, node))], user=stack.SERVICE_USER
    ).stdout
    for line in output.splitlines():
        if line.startswith("Latest checkpoint location:"):
            return _lsn(line.split(":", 1)[1].strip())
    raise CommandError(f"pg_controldata of {node} shows no checkpoint location:\n{output}")


def wait_received(p: stack.Profile, node: str, lsn: int, *, timeout: float = 30) -> None:
    """Wait until standby `node` has received and replayed WAL past `lsn`."""
    deadline = time.monotonic() + timeout
    with superuser_connection(p, node) as conn:
        while True:
            row = conn.execute("SELECT pg_last_wal_replay_lsn()::text").fetchone()
            if row and row[0] and _lsn(str(row[0])) > lsn:
                return
            if time.monotonic() > deadline:
                raise CommandError(
                    f"{node} has not replayed the old primary's last checkpoint in {timeout:.0f}s: "
                    "not promoting (start the old primary again, it lost nothing)"
                )
            time.sleep(0.1)


def promote(p: stack.Profile, node: str) -> None:
    """Promote standby `node` and make its commits stop waiting for a standby."""
    with superuser_connection(p, node, timeout=5) as conn:
        row = conn.execute("SELECT pg_promote(wait => true, wait_seconds => 60)").fetchone()
        if not (row and row[0]):
            raise CommandError(f"{node} did not finish its promotion within 60s; read its log")
        # Copied from the old primary by pg_basebackup: with no standby yet,
        # every commit would wait.
        conn.execute("ALTER SYSTEM RESET synchronous_standby_names")
        conn.execute("SELECT pg_reload_conf()")


def repoint_pgbouncers(p: stack.Profile, primary: str) -> None:
    """Record `primary` as the primary, render pgbouncer's files for it, and reload both pgbouncers."""
    (p.var / "postgres-primary").write_text(f"{primary}\n")
    stack.write_configs(p)
    for address in pgbouncers():
        pgbouncer_command(address, "RELOAD")


def promote_and_repoint(p: stack.Profile, new: str, progress: Progress) -> None:
    progress(f"promoting {new}")
    promote(p, new)
    progress(f"{new} is the primary; pointing pgbouncer at it")
    repoint_pgbouncers(p, new)


@contextmanager
def paused(*, timeout: float = 15) -> Iterator[None]:
    """Hold new transactions in the primary's pgbouncer for the block, once those in flight finished.

    Clients wait instead of failing while the primary changes (a planned
    switchover). A transaction still open after `timeout` cancels the pause,
    and nothing is changed.
    """
    address = pgbouncers()[0]
    finished = threading.Event()
    errors: list[psycopg.Error] = []

    def pause() -> None:
        try:
            pgbouncer_command(address, "PAUSE")
        except psycopg.Error as exc:
            errors.append(exc)
        finally:
            finished.set()

    threading.Thread(target=pause, name="pgbouncer-pause", daemon=True).start()
    if not finished.wait(timeout):
        pgbouncer_command(address, "RESUME")
        raise CommandError(
            f"pgbouncer could not pause in {timeout:.0f}s (a long transaction?): nothing changed"
        )
    if errors:
        raise CommandError(f"pgbouncer refused to pause: {errors[0]}")
    try:
        yield
    finally:
        pgbouncer_command(address, "RESUME")


def rebuild_standby(p: stack.Profile, progress: Progress, *, fresh: bool = False) -> None:
    """Make the node that is not the primary stream from it again, then replicate synchronously.

    `fresh`: rebuild it even when it is a standby already (one too far
    behind to catch up, or broken).
    """
    primary, standby = stack.pg_roles(p)
    started = time.monotonic()
    progress(f"rebuilding {standby} as the standby of {primary} (pg_basebackup)")
    try:
        if fresh:
            progress("commits stop waiting for the standby while it is rebuilt")
            stack.release_sync_standby(p)
        stack.build_standby(p, fresh=fresh)
        stack.start_program(p, standby, port=stack.pg_port(p, standby), timeout=60)
        stack.wait_pg_ready(p, stack.pg_port(p, standby), standby)
        progress(f"{standby} is up; waiting for it to stream, then making commits wait for it")
        stack.require_sync_standby(p)
    except stack.StackError as exc:
        raise CommandError(str(exc)) from exc
    progress(f"{standby} streams from {primary}, synchronously ({time.monotonic() - started:.1f}s)")


def failover(p: stack.Profile, *, planned: bool, force: bool, rebuild: bool, progress: Progress) -> None:
    """Make the standby the primary; see the module's docstring for the order of the steps.

    `planned`: the primary is up and is shut down cleanly first (a switchover,
    nothing in flight is lost). Otherwise the primary must be down (three
    refused connections a second apart) unless `force`.
    """
    old, new = stack.pg_roles(p)
    started = time.monotonic()
    if not is_up(p, new) or not in_recovery(p, new):
        raise CommandError(f"{new} is not a running standby: there is nothing to promote")
    if planned:
        progress("switchover: pausing pgbouncer (transactions in flight finish, new ones wait)")
        with paused():
            progress(f"stopping the primary {old} cleanly; its last WAL goes to {new} first")
            stack.supervisorctl(p, "stop", old)
            wait_received(p, new, latest_checkpoint(p, old))
            progress(f"{new} has replayed {old}'s shutdown checkpoint: nothing is lost")
            promote_and_repoint(p, new, progress)
        progress(f"pgbouncer resumed: waiting transactions go to {new} ({time.monotonic() - started:.1f}s)")
    else:
        # Paused, pgbouncer holds new transactions until the new primary
        # takes them, instead of failing them fast (server_login_retry).
        progress("pausing pgbouncer: new transactions wait")
        with paused():
            progress(f"checking that the primary {old} is down")
            if not confirm_down(p, old) and not force:
                raise CommandError(
                    f"the primary {old} answers: not failing over. A planned switchover is "
                    "`failover --planned`; `--force` fences and replaces a primary that answers"
                )
            progress(f"fencing {old}: stopped under supervisord, so it cannot come back as a second primary")
            stack.supervisorctl(p, "stop", old, check=False)
            promote_and_repoint(p, new, progress)
        progress(f"pgbouncer resumed: writes go to {new} ({time.monotonic() - started:.1f}s since the start)")
    if rebuild:
        rebuild_standby(p, progress)
    else:
        progress(
            f"no standby now, so commits do not wait for one: `manage.py rebuild_standby` rebuilds {old}"
        )
