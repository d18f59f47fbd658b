"""Issue 17's PostgreSQL failover on the fleet: repmgrd promotes the standby, every pgbouncer follows.

`fab setup` runs repmgr on the db hosts (db1 the primary, replica1 its
synchronous standby, repmgrd beside each) and a pgbouncer on every app,
worker and db host; repmgr's event hook on a promoted node repoints each of
them over SSH (a key authorized for pgbouncer-repoint only). Under a steady
write load through the lb, db1's PostgreSQL is killed: replica1 is promoted
without an operator, writes resume, no acknowledged write is lost, and `fab
rejoin` makes db1 the new primary's standby. Figures go to the output
(pytest -s) and to var/fleet-<n>-figures.json.
"""

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from tests.fleet.fleet import Fleet
from tests.fleet.load import Load, load_fixture, record, session, wait_until

pytestmark = [pytest.mark.fleet, pytest.mark.timeout(900)]

# The bound we state for writes to resume after the primary dies: repmgrd
# gives the primary 8 s (reconnect_attempts x reconnect_interval), then
# promotes and runs the hook; the rest is slack for a loaded machine.
RESUME_BOUND = 60
BOUNCER_HOSTS = ("app1", "app2", "worker1", "replica1")
APP_HOSTS = ("app1", "app2")


def writes_resumed(load: Load, since: float, fleet: Fleet, *, what: str) -> tuple[float, float]:
    """When the first write sent after `since` was acknowledged, and when every app host had one.

    repmgr's hook repoints each app host's own pgbouncer at its own moment (in
    parallel, over SSH), so writes resume on each when its pgbouncer follows:
    a write may fail on one app host after another's first success.
    """
    resumed_at = wait_until(
        lambda: load.first_write_sent_after(since), timeout=RESUME_BOUND, what=what, fleet=fleet
    )
    everywhere_at = wait_until(
        lambda: load.first_write_on_every_host_after(since, APP_HOSTS),
        timeout=RESUME_BOUND,
        what=f"{what}, on every app host",
        fleet=fleet,
    )
    assert isinstance(resumed_at, float)
    assert isinstance(everywhere_at, float)
    return resumed_at, everywhere_at


def in_recovery(fleet: Fleet, host: str) -> str:
    """'t' on a standby, 'f' on a primary, '' when PostgreSQL does not answer."""
    run = fleet.root(host) / "shared" / "services" / "run"
    result = fleet.on(
        host,
        "runuser",
        "-u",
        "postgres",
        "--",
        "env",
        "PGCONNECT_TIMEOUT=3",
        "psql",
        "-h",
        str(run),
        "-p",
        "5432",
        "-U",
        "postgres",
        "-d",
        "postgres",
        "-Atqc",
        "SELECT pg_is_in_recovery()",
    )
    return result.stdout.strip()


def sql(fleet: Fleet, host: str, query: str) -> str:
    run = fleet.root(host) / "shared" / "services" / "run"
    result = fleet.on(
        host, "runuser", "-u", "postgres", "--", "psql", "-h", str(run), "-p", "5432", "-U", "postgres",
        "-d", "postgres", "-Atqc", query,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def main_target(fleet: Fleet, host: str) -> str:
    """Where `host`'s pgbouncer sends the main database (its pgbouncer.ini's `main =` line)."""
    ini = fleet.root(host) / "shared" / "services" / "etc" / "pgbouncer.ini"
    line = next(line for line in ini.read_text().splitlines() if line.startswith("main = "))
    return line.split()[2].removeprefix("host=")


def services_tree(fleet: Fleet, host: str) -> list[int]:
    """The pids of `host`'s services supervisord and every process under it, supervisord first."""
    pidfile = fleet.root(host) / "shared" / "services" / "run" / "supervisord.pid"
    root = int(pidfile.read_text().strip())
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    tree, frontier = [root], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        tree += children
        frontier = children
    return tree


def test_the_primary_postgresql_killed_under_load_fails_over_and_rejoins(deployed: Fleet) -> None:
    fleet = deployed
    assert (in_recovery(fleet, "db1"), in_recovery(fleet, "replica1")) == ("f", "t")
    # Commits on db1 wait for replica1: what db1 acknowledged, replica1 has.
    assert sql(fleet, "db1", "SHOW synchronous_standby_names") == 'ANY 1 ("db1", "replica1")'
    assert (
        sql(fleet, "db1", "SELECT application_name, sync_state FROM pg_stat_replication") == "replica1|quorum"
    )
    for host in BOUNCER_HOSTS:
        assert main_target(fleet, host) == fleet.address("db1"), host

    load, owner = load_fixture(fleet)
    load.start(owner)
    try:
        wait_until(lambda: len(load.acknowledged) >= 10, timeout=60, what="writes under load", fleet=fleet)
        # db1's PostgreSQL dies and stays dead: its supervisord is killed first (it
        # would start PostgreSQL again, as a second primary), then the postmaster
        # and every other process under it (repmgrd and pgbouncer too: none serves).
        pids = services_tree(fleet, "db1")
        postmaster = int(
            (fleet.root("db1") / "data" / "postgresql" / "postmaster.pid").read_text().split()[0]
        )
        assert postmaster in pids
        killed_at = time.monotonic()
        for pid in [pids[0], postmaster, *pids[1:]]:
            with contextlib.suppress(ProcessLookupError):  # gone with its parent
                os.kill(pid, signal.SIGKILL)
        resumed_at, everywhere_at = writes_resumed(
            load, killed_at, fleet, what="a write acknowledged after the primary died"
        )
        # A few more writes on the new primary, then the load stops.
        count = len(load.acknowledged)
        wait_until(lambda: len(load.acknowledged) >= count + 10, timeout=60, what="writes go on", fleet=fleet)
    finally:
        load.finish()
    failover_seconds = round(resumed_at - killed_at, 1)
    lost = load.lost(owner)
    figures = load.figures(lost_writes=len(lost), failover_seconds=failover_seconds)
    print(f"failover: {figures}")

    # Promoted by repmgrd, not by an operator; every pgbouncer followed through the hook.
    assert in_recovery(fleet, "replica1") == "f"
    for host in BOUNCER_HOSTS:
        assert main_target(fleet, host) == fleet.address("replica1"), host
    log = fleet.root("replica1") / "shared" / "services" / "log"
    assert "promoted to primary" in (log / "repmgrd.log").read_text()
    hook_log = log / "repmgr-event.log"
    assert "repmgr-event: repmgrd_failover_promote on node 2 (success=1)" in hook_log.read_text()
    lines = [
        f"repmgr-event: root@{fleet.address(host)}: pgbouncer points at {fleet.address('replica1')}:5432"
        for host in BOUNCER_HOSTS
    ]
    wait_until(
        lambda: all(line in hook_log.read_text() for line in lines),
        timeout=30,
        what="the hook's line for every pgbouncer host",
        fleet=fleet,
    )
    assert lost == []
    # Only requests sent between the kill and the first write after it on every app host failed.
    assert all(killed_at - 1 <= sent <= everywhere_at for sent in load.failed_sent), load.failures
    assert len(load.acknowledged) > 20

    # The operator's one step: db1 rejoins as the standby of replica1 (cloned again).
    started = time.monotonic()
    rejoin = fleet.fab("-H", "db1", "rejoin")
    rejoin_seconds = round(time.monotonic() - started, 1)
    assert "[db1] rejoined as a standby" in rejoin.stdout
    assert in_recovery(fleet, "db1") == "t"
    assert (
        sql(fleet, "replica1", "SELECT application_name, state FROM pg_stat_replication") == "db1|streaming"
    )
    assert sql(fleet, "replica1", "SHOW synchronous_standby_names") == 'ANY 1 ("db1", "replica1")'
    ini = (fleet.root("app1") / "shared" / "services" / "etc" / "pgbouncer.ini").read_text()
    assert f"main_replica = host={fleet.address('db1')} port=5432" in ini

    http = session()

    def healthy() -> dict[str, object] | None:
        report: dict[str, object] = http.get(f"{fleet.lb}/health", timeout=15).json()
        return report if report["status"] == "up" else None

    report = wait_until(healthy, timeout=60, what="/health up after the rejoin", fleet=fleet)
    assert isinstance(report, dict)
    components = report["components"]
    for name in ("postgres:default", "postgres:default_replica", "postgres:shard1", "pgbouncer"):
        assert components[name]["status"] == "up", f"{name}: {components[name]}"
    # Writes land on the new primary and reach the rejoined standby.
    comment = owner.post(f"media/{load.media[0]}/comments", text="after the rejoin")  # type: ignore[attr-defined]
    assert comment.status_code == 200, comment.text
    record(fleet, "postgres_primary_killed", {**figures, "rejoin_seconds": rejoin_seconds})


DB_HOSTS = ("db1", "replica1")


def roles(fleet: Fleet) -> tuple[str, str]:
    """The (primary, standby) db hosts, as their PostgreSQL answers."""
    answers = {host: in_recovery(fleet, host) for host in DB_HOSTS}
    primaries = [host for host, answer in answers.items() if answer == "f"]
    standbys = [host for host, answer in answers.items() if answer == "t"]
    assert len(primaries) == len(standbys) == 1, answers
    return primaries[0], standbys[0]


def inserted(fleet: Fleet, host: str) -> int:
    """Rows inserted into the app's databases on `host` since it started (pg_stat_database)."""
    query = "SELECT sum(tup_inserted) FROM pg_stat_database WHERE datname LIKE 'instagram%'"
    return int(sql(fleet, host, query))


def test_the_primary_cut_off_the_network_under_load_fails_over_and_stays_fenced(deployed: Fleet) -> None:
    """The primary's host drops off the network: its PostgreSQL runs on, and must take no write."""
    fleet = deployed
    old, new = roles(fleet)
    bouncers = ("app1", "app2", "worker1", *DB_HOSTS)
    load, owner = load_fixture(fleet)
    load.start(owner)
    try:
        wait_until(lambda: len(load.acknowledged) >= 10, timeout=60, what="writes under load", fleet=fleet)
        cut_at = time.monotonic()
        fleet.network.link(old, up=False)
        resumed_at, everywhere_at = writes_resumed(
            load, cut_at, fleet, what="a write acknowledged after the primary was cut off"
        )
        count = len(load.acknowledged)
        wait_until(lambda: len(load.acknowledged) >= count + 10, timeout=60, what="writes go on", fleet=fleet)
        # Back on the network, the old primary still runs as a primary (repmgr has no
        # consensus to stop it): fenced, because no pgbouncer sends it anything any
        # more. Its own, unreachable when the hook ran, is repointed once it is back.
        fleet.network.link(old, up=True)
        wait_until(
            lambda: main_target(fleet, old) == fleet.address(new),
            timeout=60,
            what=f"{old}'s own pgbouncer repointed at {new} once back on the network",
            fleet=fleet,
        )
        time.sleep(3)  # what the old primary's cut-off sessions did is in its statistics
        before = inserted(fleet, old)
        count = len(load.acknowledged)
        wait_until(lambda: len(load.acknowledged) >= count + 10, timeout=60, what="writes go on", fleet=fleet)
        time.sleep(2)
        after = inserted(fleet, old)
    finally:
        fleet.network.link(old, up=True)
        load.finish()
    lost = load.lost(owner)
    figures = load.figures(lost_writes=len(lost), failover_seconds=round(resumed_at - cut_at, 1))
    print(f"network failover: {figures}")

    assert in_recovery(fleet, old) == "f"  # still a primary: only the fence keeps writes off it
    assert in_recovery(fleet, new) == "f"
    for host in bouncers:
        assert main_target(fleet, host) == fleet.address(new), host
    assert after == before, f"{old}, fenced, took {after - before} rows"
    assert lost == []
    assert all(cut_at - 1 <= sent <= everywhere_at for sent in load.failed_sent), load.failures

    started = time.monotonic()
    rejoin = fleet.fab("-H", old, "rejoin")
    rejoin_seconds = round(time.monotonic() - started, 1)
    assert f"[{old}] rejoined as a standby" in rejoin.stdout
    assert roles(fleet) == (new, old)
    assert sql(fleet, new, "SELECT application_name, state FROM pg_stat_replication") == f"{old}|streaming"

    http = session()

    def healthy() -> dict[str, object] | None:
        report: dict[str, object] = http.get(f"{fleet.lb}/health", timeout=15).json()
        return report if report["status"] == "up" else None

    wait_until(healthy, timeout=60, what="/health up after the rejoin", fleet=fleet)
    record(fleet, "postgres_primary_cut_off", {**figures, "rejoin_seconds": rejoin_seconds})
