"""PostgreSQL failover by an operator: promote the standby, repoint pgbouncer, rebuild a standby.

On a host where repmgr manages the nodes (each topology node names its
repmgr.conf), repmgrd fails over on its own (ops/repmgr_hook.py repoints
pgbouncer; docs/decisions/repmgr.md); these commands are then the operator's
switchover and rebuild: they pause repmgrd while they run, promote with
`repmgr standby promote` and clone with `repmgr standby clone`.

The two nodes keep their service names, ports and data folders (the topology
file, ops/topology.py); only their roles move. Which node is the primary is
written in the topology's primary file, and pgbouncer's configuration is
rendered from it by the topology's `pgbouncer_reconfigure` command, so it
follows the roles after a failover and on every later render too.

The order of a failover is what keeps every acknowledged commit:

1. the old primary is fenced (stopped by its service manager, so its autorestart
   cannot bring back a second primary), after checking it is down, or after
   a clean shutdown for a planned switchover;
2. the standby, which flushed every acknowledged commit before the client got
   its answer (synchronous replication), is promoted;
3. the promoted node stops waiting for a standby it does not have yet, and
   pgbouncer is pointed at it (RELOAD). pgbouncer is PAUSEd around steps
   1-3 (the check that a crashed primary is down included), so clients wait
   for the new primary instead of failing;
4. the old primary's data is moved aside and the node is rebuilt from the new
   primary (repmgr standby clone, or pg_basebackup without repmgr); once it
   streams, commits wait for it again.
"""

import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import LiteralString

import psycopg
from django.conf import settings
from django.core.management.base import CommandError
from psycopg import sql

from ops.layout import Progress, pgbouncer_command, pgbouncers, superuser_connection
from ops.topology import Topology, TopologyError


def is_up(t: Topology, node: str) -> bool:
    try:
        with superuser_connection(t, node) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


def in_recovery(t: Topology, node: str) -> bool:
    with superuser_connection(t, node) as conn:
        row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    return bool(row and row[0])


def confirm_down(t: Topology, node: str, *, attempts: int = 3, interval: float = 1.0) -> bool:
    """Return True when `node` refused every one of `attempts` connections, `interval` apart."""
    for attempt in range(attempts):
        if is_up(t, node):
            return False
        if attempt < attempts - 1:
            time.sleep(interval)
    return True


def _lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def latest_checkpoint(t: Topology, node: str) -> int:
    """Return the LSN of the last checkpoint of a stopped node, from pg_controldata."""
    output = t.run([str(t.pg_bin / "pg_controldata"), str(t.node(node).data)], as_service_user=True).stdout
    for line in output.splitlines():
        if line.startswith("Latest checkpoint location:"):
            return _lsn(line.split(":", 1)[1].strip())
    raise CommandError(f"pg_controldata of {node} shows no checkpoint location:\n{output}")


def wait_received(t: Topology, node: str, lsn: int, *, timeout: float = 30) -> None:
    """Wait until standby `node` has received and replayed WAL past `lsn`."""
    deadline = time.monotonic() + timeout
    with superuser_connection(t, node) as conn:
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


def promote(t: Topology, node: str) -> None:
    """Promote standby `node` (through repmgr where it runs); its commits stop waiting for a standby."""
    if t.node(node).repmgr_conf is not None:
        try:
            t.run_repmgr(node, "standby", "promote")
        except TopologyError as exc:
            raise CommandError(str(exc)) from exc
    else:
        with superuser_connection(t, node, timeout=5) as conn:
            row = conn.execute("SELECT pg_promote(wait => true, wait_seconds => 60)").fetchone()
            if not (row and row[0]):
                raise CommandError(f"{node} did not finish its promotion within 60s; read its log")
    stop_waiting_for_a_standby(t, node)


def stop_waiting_for_a_standby(t: Topology, node: str) -> None:
    """Reset synchronous_standby_names on the new primary `node`.

    Copied from the old primary by the clone: with no standby yet, every
    commit would wait.
    """
    with superuser_connection(t, node, timeout=5) as conn:
        conn.execute("ALTER SYSTEM RESET synchronous_standby_names")
        conn.execute("SELECT pg_reload_conf()")


@contextmanager
def repmgrd_paused(t: Topology, progress: Progress) -> Iterator[None]:
    """Keep repmgrd from failing over on its own while an operator changes the roles.

    `repmgr service pause` reaches every node that answers; a dead primary's
    repmgrd has nothing to decide anyway.
    """
    nodes = [node.name for node in t.pg_nodes if node.repmgr_conf is not None]
    if not nodes:
        yield
        return
    progress("pausing repmgrd's automatic failover")
    t.run_repmgr(nodes[-1], "service", "pause", check=False)
    t.run_repmgr(nodes[0], "service", "pause", check=False)
    try:
        yield
    finally:
        for node in nodes:
            t.run_repmgr(node, "service", "unpause", check=False)
        progress("repmgrd watches again")


def repoint_pgbouncers(t: Topology, primary: str) -> None:
    """Record `primary` as the primary, render pgbouncer's files for it, and reload both pgbouncers."""
    t.record_primary(primary)
    try:
        t.reconfigure_pgbouncer()
    except TopologyError as exc:
        raise CommandError(str(exc)) from exc
    for address in pgbouncers():
        pgbouncer_command(address, "RELOAD")


def promote_and_repoint(t: Topology, new: str, progress: Progress) -> None:
    progress(f"promoting {new}")
    promote(t, new)
    progress(f"{new} is the primary; pointing pgbouncer at it")
    repoint_pgbouncers(t, new)


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


def primary_sql(t: Topology, query: LiteralString, params: tuple[object, ...] = ()) -> str:
    """Run `query` on the primary as the superuser; return the first column of its first row, or ''."""
    with superuser_connection(t, t.primary(), timeout=5) as conn:
        cursor = conn.execute(query, params)
        row = cursor.fetchone() if cursor.description else None
    return "" if row is None or row[0] is None else str(row[0])


def wait_accepting(t: Topology, node: str, *, timeout: float = 30) -> None:
    """Wait until `node` accepts connections (a standby starting replays WAL first)."""
    deadline = time.monotonic() + timeout
    while not is_up(t, node):
        if time.monotonic() > deadline:
            raise TopologyError(f"{node} does not accept connections after {timeout:.0f}s; read its log")
        time.sleep(0.2)


def build_standby(t: Topology, progress: Progress, *, fresh: bool = False) -> None:
    """Make the node that is not the primary a hot standby of it (repmgr standby clone, or pg_basebackup).

    A data folder that is a standby already is kept, unless `fresh` (a
    standby too far behind, or broken): then it is stopped and replaced, as
    it holds only a copy. One that is not a standby (the former primary,
    after a failover) is stopped and moved aside to `<folder>.diverged`,
    replacing an older one: it may hold commits that no client saw
    acknowledged, which the new timeline does not have.
    """
    primary, standby = t.pg_roles()
    datadir = t.node(standby).data
    if (datadir / "standby.signal").exists():
        if not fresh:
            return
        t.service("stop", standby, check=False)
    elif (t.node(primary).data / "standby.signal").exists():
        raise TopologyError(
            f"{primary} is recorded as the primary ({t.primary_file}) but is a standby: "
            "correct that file rather than rebuild the real primary"
        )
    elif (datadir / "PG_VERSION").exists():
        t.service("stop", standby, check=False)
        aside = datadir.with_name(f"{datadir.name}.diverged")
        shutil.rmtree(aside, ignore_errors=True)
        datadir.rename(aside)
        progress(f"{standby} was no standby: its data folder moved to {aside}")
    shutil.rmtree(datadir, ignore_errors=True)
    source = t.node(primary)
    if t.node(standby).repmgr_conf is not None:
        # repmgr's clone: pg_basebackup with the replication slot and
        # primary_conninfo repmgr manages (and the standby's own repmgr.conf).
        upstream = f"host={t.socket_dir} port={source.port} user=postgres dbname=repmgr"
        t.run_repmgr(standby, "-d", upstream, "standby", "clone", "--fast-checkpoint")
        return
    slot = "SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s"
    if primary_sql(t, slot, (t.standby_name,)) == "0":
        primary_sql(t, "SELECT pg_create_physical_replication_slot(%s)", (t.standby_name,))
    t.run(
        [
            str(t.pg_bin / "pg_basebackup"),
            "-h",
            source.host,
            "-p",
            str(source.port),
            "-U",
            t.replication_user,
            # -R writes it into primary_conninfo: the name synchronous_standby_names waits for.
            "-d",
            f"application_name={t.standby_name}",
            "-D",
            str(datadir),
            "-X",
            "stream",
            "-R",
            "-S",
            t.standby_name,
            "--checkpoint=fast",
        ],
        as_service_user=True,
        env={"PGPASSWORD": settings.DB_PASSWORD},
    )


def register_standby(t: Topology, progress: Progress) -> None:
    """Register the running standby with repmgr; restart its repmgrd, which then watches it as one."""
    standby = t.pg_roles()[1]
    node = t.node(standby)
    if node.repmgr_conf is None:
        return
    t.run_repmgr(standby, "standby", "register", "--force", "--wait-sync=30")
    if node.repmgrd:
        t.service("restart", node.repmgrd, check=False)
    progress(f"{standby} registered with repmgr as a standby")


def require_sync_standby(t: Topology, *, timeout: float = 60) -> None:
    """Make commits on the primary wait for the standby, once it streams.

    Not before: with synchronous_standby_names set and no standby connected,
    every commit waits. A failover clears it (release_sync_standby) until the
    new standby streams; docs/failover-and-backups.md has the trade-off.
    """
    streaming = "SELECT count(*) FROM pg_stat_replication WHERE application_name = %s AND state = 'streaming'"
    deadline = time.monotonic() + timeout
    while primary_sql(t, streaming, (t.standby_application_name(),)) == "0":
        if time.monotonic() > deadline:
            raise TopologyError(f"the standby {t.pg_roles()[1]} is not streaming after {timeout:.0f}s")
        time.sleep(0.2)
    if primary_sql(t, "SHOW synchronous_standby_names") != t.sync_standby_names:
        # ALTER SYSTEM takes no parameters: the value is quoted as a literal here.
        setting = sql.SQL("ALTER SYSTEM SET synchronous_standby_names = {}").format(
            sql.Literal(t.sync_standby_names)
        )
        with superuser_connection(t, t.primary(), timeout=5) as conn:
            conn.execute(setting)
        primary_sql(t, "SELECT pg_reload_conf()")


def release_sync_standby(t: Topology) -> None:
    """Let commits on the primary go on without a standby (asynchronous replication)."""
    primary_sql(t, "ALTER SYSTEM RESET synchronous_standby_names")
    primary_sql(t, "SELECT pg_reload_conf()")


def rebuild_standby(t: Topology, progress: Progress, *, fresh: bool = False) -> None:
    """Make the node that is not the primary stream from it again, then replicate synchronously.

    `fresh`: rebuild it even when it is a standby already (one too far
    behind to catch up, or broken).
    """
    primary, standby = t.pg_roles()
    started = time.monotonic()
    progress(f"rebuilding {standby} as the standby of {primary} (repmgr standby clone)")
    try:
        if fresh:
            progress("commits stop waiting for the standby while it is rebuilt")
            release_sync_standby(t)
        build_standby(t, progress, fresh=fresh)
        t.start_service(standby, port=t.node(standby).port, timeout=60)
        wait_accepting(t, standby)
        register_standby(t, progress)
        progress(f"{standby} is up; waiting for it to stream, then making commits wait for it")
        require_sync_standby(t)
    except TopologyError as exc:
        raise CommandError(str(exc)) from exc
    progress(f"{standby} streams from {primary}, synchronously ({time.monotonic() - started:.1f}s)")


def failover(t: Topology, *, planned: bool, force: bool, rebuild: bool, progress: Progress) -> None:
    """Make the standby the primary; see the module's docstring for the order of the steps.

    `planned`: the primary is up and is shut down cleanly first (a switchover,
    nothing in flight is lost). Otherwise the primary must be down (three
    refused connections a second apart) unless `force`.
    """
    old, new = t.pg_roles()
    if not is_up(t, new) or not in_recovery(t, new):
        raise CommandError(f"{new} is not a running standby: there is nothing to promote")
    with repmgrd_paused(t, progress):
        _failover(t, old, new, planned=planned, force=force, rebuild=rebuild, progress=progress)


def _failover(
    t: Topology, old: str, new: str, *, planned: bool, force: bool, rebuild: bool, progress: Progress
) -> None:
    started = time.monotonic()
    if planned:
        progress("switchover: pausing pgbouncer (transactions in flight finish, new ones wait)")
        with paused():
            progress(f"stopping the primary {old} cleanly; its last WAL goes to {new} first")
            t.service("stop", old)
            wait_received(t, new, latest_checkpoint(t, old))
            progress(f"{new} has replayed {old}'s shutdown checkpoint: nothing is lost")
            promote_and_repoint(t, new, progress)
        progress(f"pgbouncer resumed: waiting transactions go to {new} ({time.monotonic() - started:.1f}s)")
    else:
        # Paused, pgbouncer holds new transactions until the new primary
        # takes them, instead of failing them fast (server_login_retry).
        progress("pausing pgbouncer: new transactions wait")
        with paused():
            progress(f"checking that the primary {old} is down")
            if not confirm_down(t, old) and not force:
                raise CommandError(
                    f"the primary {old} answers: not failing over. A planned switchover is "
                    "`failover --planned`; `--force` fences and replaces a primary that answers"
                )
            progress(
                f"fencing {old}: stopped by its service manager, so it cannot come back as a second primary"
            )
            t.service("stop", old, check=False)
            promote_and_repoint(t, new, progress)
        progress(f"pgbouncer resumed: writes go to {new} ({time.monotonic() - started:.1f}s since the start)")
    if rebuild:
        rebuild_standby(t, progress)
    else:
        progress(
            f"no standby now, so commits do not wait for one: `manage.py rebuild_standby` rebuilds {old}"
        )
