"""Issue 17: several physical shard clusters, each with its own standby, each failing over on its own.

The fleet's inventory names two PostgreSQL clusters ([db_clusters],
tests/fleet/fleet.py): a (db1 primary, replica1 standby) holding main and
shard0, b (db2 primary, replica2 standby) holding shard1. Each is its own
repmgr cluster with its own repmgrd. Under a steady write load on an owner
whose rows live in shard1 and another on shard0 (the app's shard map says
which), db2's PostgreSQL is killed: repmgrd promotes replica2, the hook
repoints shard1 (and shard1_replica) in every pgbouncer and leaves cluster a's
lines alone, writes on shard1 resume, writes on cluster a never fail, no
acknowledged write is lost, and `fab -H db2 rejoin` makes db2 replica2's
standby. Figures go to the output (pytest -s) and to var/fleet-<n>-figures.json.
"""

import contextlib
import os
import signal
import time

import pytest

from sharding.sql import schema_name
from tests.fleet.fleet import DB_CLUSTERS, Fleet
from tests.fleet.load import load_fixture, record, session, shard_databases, wait_until
from tests.fleet.test_fleet_postgres_failover import (
    in_recovery,
    services_tree,
    sql,
    writes_resumed,
)

pytestmark = [pytest.mark.fleet, pytest.mark.timeout(900)]

BOUNCER_HOSTS = ("app1", "app2", "worker1", "db1", "replica1", "db2", "replica2")
A_DATABASES = DB_CLUSTERS["a"][1]  # main, shard0
B_DATABASE = "shard1"


def bouncer_lines(fleet: Fleet, host: str) -> dict[str, str]:
    """`host`'s pgbouncer.ini [databases] lines, by database name."""
    ini = fleet.root(host) / "shared" / "services" / "etc" / "pgbouncer.ini"
    return {
        line.split(" = ")[0]: line
        for line in ini.read_text().splitlines()
        if " = host=" in line and not line.startswith(("listen", ";"))
    }


def cluster_a_lines(fleet: Fleet) -> dict[str, dict[str, str]]:
    names = [*A_DATABASES, *(f"{name}_replica" for name in A_DATABASES)]
    return {host: {name: bouncer_lines(fleet, host)[name] for name in names} for host in BOUNCER_HOSTS}


def target(fleet: Fleet, host: str, name: str) -> str:
    """Where `host`'s pgbouncer sends database `name` (its address)."""
    return bouncer_lines(fleet, host)[name].split()[2].removeprefix("host=")


def test_one_shard_cluster_fails_over_on_its_own_under_load(deployed: Fleet) -> None:
    fleet = deployed
    # Two repmgr clusters, each with its own primary, synchronous standby and node ids.
    assert [in_recovery(fleet, h) for h in ("db1", "replica1", "db2", "replica2")] == ["f", "t", "f", "t"]
    assert sql(fleet, "db2", "SHOW synchronous_standby_names") == 'ANY 1 ("db2", "replica2")'
    assert sql(fleet, "db2", "SELECT application_name FROM pg_stat_replication") == "replica2"
    nodes = "SELECT string_agg(node_id || ':' || node_name, ',' ORDER BY node_id) FROM repmgr.nodes"
    assert db_sql(fleet, "db2", "repmgr", nodes) == "1:db2,2:replica2"
    assert db_sql(fleet, "db1", "repmgr", nodes) == "1:db1,2:replica1"
    # Each cluster holds only its databases.
    databases = (
        "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database WHERE datname LIKE 'instagram%'"
    )
    assert sql(fleet, "db1", databases) == "instagram_main,instagram_shard0"
    assert sql(fleet, "db2", databases) == "instagram_shard1"
    # `fab deploy` created and migrated every logical shard in the physical database
    # the shard map places it in, on whichever cluster holds that database.
    places = shard_databases(fleet)
    tables = (
        "SELECT string_agg(table_schema, ',' ORDER BY table_schema)"
        " FROM information_schema.tables WHERE table_name = 'media'"
    )
    for host, database in (("db1", "shard0"), ("db2", "shard1")):
        wanted = ",".join(schema_name(n) for n, place in enumerate(places) if place == database)
        assert wanted, places
        assert db_sql(fleet, host, f"instagram_{database}", tables) == wanted, host
    for host in BOUNCER_HOSTS:
        assert target(fleet, host, "main") == fleet.address("db1"), host
        assert target(fleet, host, "shard0") == fleet.address("db1"), host
        assert target(fleet, host, B_DATABASE) == fleet.address("db2"), host
        assert target(fleet, host, f"{B_DATABASE}_replica") == fleet.address("replica2"), host
    a_lines = cluster_a_lines(fleet)

    # An owner whose rows live in shard1 (cluster b), another in shard0 (cluster a).
    load_b, owner_b = load_fixture(fleet, database=B_DATABASE)
    load_a, owner_a = load_fixture(fleet, database="shard0", readers=1)
    load_b.start(owner_b)
    load_a.start(owner_a)
    try:
        wait_until(
            lambda: len(load_b.acknowledged) >= 10 and len(load_a.acknowledged) >= 10,
            timeout=60,
            what="writes under load on both clusters",
            fleet=fleet,
        )
        # db2's PostgreSQL dies and stays dead (its supervisord first, as in
        # test_fleet_postgres_failover: it would start it again as a second primary).
        pids = services_tree(fleet, "db2")
        postmaster = int(
            (fleet.root("db2") / "data" / "postgresql" / "postmaster.pid").read_text().split()[0]
        )
        assert postmaster in pids
        killed_at = time.monotonic()
        for pid in [pids[0], postmaster, *pids[1:]]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        resumed_at, everywhere_at = writes_resumed(
            load_b, killed_at, fleet, what="a write on shard1 acknowledged after its primary died"
        )
        count = len(load_b.acknowledged)
        wait_until(
            lambda: len(load_b.acknowledged) >= count + 10, timeout=60, what="writes go on", fleet=fleet
        )
    finally:
        load_b.finish()
        load_a.finish()
    failover_seconds = round(resumed_at - killed_at, 1)
    lost_b, lost_a = load_b.lost(owner_b), load_a.lost(owner_a)
    # Cluster a's writes acknowledged while cluster b had no primary.
    a_during = sum(1 for sent, _ in load_a.writes if killed_at <= sent <= everywhere_at)
    figures = load_b.figures(
        lost_writes=len(lost_b),
        failover_seconds=failover_seconds,
        every_app_host_seconds=round(everywhere_at - killed_at, 1),
        other_cluster_requests=len(load_a.answers) + len(load_a.failures),
        other_cluster_acknowledged_writes=len(load_a.acknowledged),
        other_cluster_writes_during_failover=a_during,
        other_cluster_failed=len(load_a.failures),
        other_cluster_lost_writes=len(lost_a),
    )
    print(f"cluster b failover: {figures}")

    # repmgrd of cluster b promoted replica2; cluster a did nothing.
    assert in_recovery(fleet, "replica2") == "f"
    assert (in_recovery(fleet, "db1"), in_recovery(fleet, "replica1")) == ("f", "t")
    log = fleet.root("replica2") / "shared" / "services" / "log"
    assert "promoted to primary" in (log / "repmgrd.log").read_text()
    hook_log = log / "repmgr-event.log"
    assert "repmgr-event: repmgrd_failover_promote on node 2 (success=1)" in hook_log.read_text()
    lines = [
        f"repmgr-event: root@{fleet.address(host)}: pgbouncer points at {fleet.address('replica2')}:5432"
        for host in BOUNCER_HOSTS
        if host != "db2"  # down with its PostgreSQL: the hook tries it again in the background
    ]
    wait_until(
        lambda: all(line in hook_log.read_text() for line in lines),
        timeout=30,
        what="the hook's line for every reachable pgbouncer host",
        fleet=fleet,
    )
    for host in BOUNCER_HOSTS:
        if host == "db2":
            continue
        assert target(fleet, host, B_DATABASE) == fleet.address("replica2"), host
        assert target(fleet, host, f"{B_DATABASE}_replica") == fleet.address("replica2"), host
    # Cluster a's lines untouched in every pgbouncer (db2's own included).
    assert cluster_a_lines(fleet) == a_lines
    assert lost_b == []
    assert lost_a == []
    # Cluster b: only requests sent between the kill and the moment every app host wrote again failed.
    assert all(killed_at - 1 <= sent <= everywhere_at for sent in load_b.failed_sent), load_b.failures
    # Cluster a: no request failed, and its writes went on meanwhile.
    assert load_a.failures == []
    assert a_during > 0

    # The operator's one step for cluster b: db2 rejoins as replica2's standby.
    started = time.monotonic()
    rejoin = fleet.fab("-H", "db2", "rejoin")
    rejoin_seconds = round(time.monotonic() - started, 1)
    assert "[db2] rejoined as a standby" in rejoin.stdout
    assert in_recovery(fleet, "db2") == "t"
    assert (
        sql(fleet, "replica2", "SELECT application_name, state FROM pg_stat_replication") == "db2|streaming"
    )
    assert sql(fleet, "replica2", "SHOW synchronous_standby_names") == 'ANY 1 ("db2", "replica2")'
    for host in BOUNCER_HOSTS:
        assert target(fleet, host, B_DATABASE) == fleet.address("replica2"), host
        assert target(fleet, host, f"{B_DATABASE}_replica") == fleet.address("db2"), host
    assert cluster_a_lines(fleet) == a_lines

    http = session()

    def healthy() -> dict[str, object] | None:
        report: dict[str, object] = http.get(f"{fleet.lb}/health", timeout=15).json()
        return report if report["status"] == "up" else None

    report = wait_until(healthy, timeout=60, what="/health up after the rejoin", fleet=fleet)
    assert isinstance(report, dict)
    for name in ("postgres:shard1", "postgres:shard1_replica", "postgres:default", "postgres:shard0"):
        assert report["components"][name]["status"] == "up", name
    comment = owner_b.post(f"media/{load_b.media[0]}/comments", text="after the rejoin")  # type: ignore[attr-defined]
    assert comment.status_code == 200, comment.text
    record(fleet, "postgres_shard_cluster_primary_killed", {**figures, "rejoin_seconds": rejoin_seconds})


def db_sql(fleet: Fleet, host: str, database: str, query: str) -> str:
    """`query` on `database` of `host`'s PostgreSQL, as its superuser."""
    run = fleet.root(host) / "shared" / "services" / "run"
    result = fleet.on(
        host, "runuser", "-u", "postgres", "--", "psql", "-h", str(run), "-p", "5432", "-U", "postgres",
        "-d", database, "-Atqc", query,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()
