"""Issue 17's acceptance: a fleet of hosts, each in its own network namespace, set up and deployed by fab.

The fixture (conftest.py, fleet.py, netns.py) makes the hosts: an lb, two app
hosts, a worker host that also runs gearmand, a db host (PostgreSQL and
pgbouncer), a redis host and a cache host, each with its own address and
sshd. Then, in order, as an operator would: `fab setup` provisions every
role and a second run changes nothing; `fab deploy` brings the fleet up and
the API answers through the lb; an app host drops off the network under a
steady read load; a new release is deployed under load. Figures go to the
output (pytest -s) and to var/fleet-<n>/figures.json.
"""

import json
import os
import signal
import subprocess
import time

import pytest

from tests.fleet.fleet import Fleet
from tests.fleet.load import load_fixture, record, session, wait_until
from tests.photos.images import jpeg

pytestmark = [pytest.mark.fleet, pytest.mark.timeout(900)]

SERVICE_HOSTS = ("db1", "replica1", "db2", "replica2", "redis1", "cache1", "worker1", "app1", "app2")


def supervised_pids(fleet: Fleet, host: str) -> dict[str, str]:
    """The pid of each server on `host`'s services supervisord."""
    base = fleet.root(host) / "shared" / "services"
    result = subprocess.run(
        [str(base / "bin" / "supervisorctl"), "-c", str(base / "supervisord.conf"), "status"],
        capture_output=True,
        text=True,
        check=False,
    )
    pids = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) > 3 and parts[1] == "RUNNING":
            pids[parts[0]] = parts[3].rstrip(",")
    return pids


def test_setup_provisions_every_role_and_a_second_run_changes_nothing(fleet: Fleet) -> None:
    first = fleet.fab("setup", "--env", str(fleet.env_file))
    fleet.set_up = True
    assert "initdb: a new PostgreSQL cluster" in first.stdout
    # Two clusters (the inventory's [db_clusters]), each its own repmgr cluster holding its databases.
    assert "[db1] database instagram_main created" in first.stdout
    assert "[db1] database instagram_shard0 created" in first.stdout
    assert "[db2] database instagram_shard1 created" in first.stdout
    assert "[db1] database instagram_shard1 created" not in first.stdout
    assert "[db2] database instagram_main created" not in first.stdout
    assert "[replica1] pg_basebackup from " in first.stdout
    assert "[replica2] pg_basebackup from " in first.stdout
    assert "[db1] repmgr: db1 registered as the primary (node 1)" in first.stdout
    assert "[replica1] repmgr: replica1 registered as a standby (node 2)" in first.stdout
    assert "[db2] repmgr: db2 registered as the primary (node 1)" in first.stdout
    assert "[replica2] repmgr: replica2 registered as a standby (node 2)" in first.stdout
    assert "nginx started" in first.stdout
    # Three Redis Sentinels: on the two redis hosts and on the first other host
    # with servers in inventory order, worker1 (inventory.default_sentinels).
    servers = {
        "db1": {"instagram-postgresql", "instagram-repmgrd", "instagram-pgbouncer"},
        "db2": {"instagram-postgresql", "instagram-repmgrd", "instagram-pgbouncer"},
        "replica2": {"instagram-postgresql", "instagram-repmgrd", "instagram-pgbouncer"},
        # The main instance and their part of each feed shard (a primary or its replica).
        "replica1": {
            "instagram-postgresql",
            "instagram-repmgrd",
            "instagram-pgbouncer",
            "instagram-redis",
            "instagram-redis-feed-0",
            "instagram-redis-feed-1",
            "instagram-sentinel",
        },
        "redis1": {
            "instagram-redis",
            "instagram-redis-feed-0",
            "instagram-redis-feed-1",
            "instagram-sentinel",
        },
        "cache1": {"instagram-memcached"},
        # Each app and worker host has its own pgbouncer, which follows a promoted standby.
        "worker1": {"instagram-gearmand", "instagram-pgbouncer", "instagram-sentinel"},
        "app1": {"instagram-pgbouncer"},
        "app2": {"instagram-pgbouncer"},
    }
    pids = {host: supervised_pids(fleet, host) for host in SERVICE_HOSTS}
    for host, names in servers.items():
        assert set(pids[host]) == names, f"{host}: {pids[host]}{fleet.log_tails()}"
    # Each server listens on its host's own address (the apps reach them over the bridge).
    for host, port in (
        ("db1", 6432),
        ("db2", 6432),
        ("redis1", 6379),
        *((host, port) for host in ("redis1", "replica1") for port in (6380, 6381)),
        ("cache1", 11211),
        ("worker1", 4730),
        *((host, 26379) for host in ("redis1", "replica1", "worker1")),
    ):
        probe = fleet.on(
            "app1",
            "python3",
            "-c",
            f"import socket; socket.create_connection(('{fleet.address(host)}', {port}), 5)",
        )
        assert probe.returncode == 0, f"{host}:{port} from app1: {probe.stderr}"

    again = fleet.fab("setup", "--env", str(fleet.env_file))
    for host in SERVICE_HOSTS:
        assert f"[{host}] services: unchanged" in again.stdout
    assert "[lb1] nginx: configuration unchanged" in again.stdout
    for word in ("started", "created", "restarted", "initdb", "installing"):
        assert word not in again.stdout, again.stdout
    assert {host: supervised_pids(fleet, host) for host in SERVICE_HOSTS} == pids


def test_deploy_brings_the_fleet_up_and_the_api_answers_through_the_lb(fleet: Fleet) -> None:
    fleet.deploy_first_release()

    status = fleet.fab("status")
    assert "all hosts up" in status.stdout
    assert "DOWN" not in status.stdout

    http = session()
    served = {http.get(f"{fleet.lb}/ping", timeout=10).headers["X-Served-By"] for _ in range(12)}
    assert served == {"app1", "app2"}

    from tests.v1 import sign_up

    alice = sign_up(fleet.lb, http, prefix="alice")
    bob = sign_up(fleet.lb, http, prefix="bob")
    media = alice.post_photo(jpeg(), caption="Pier at dusk #fleet")
    assert bob.post(f"media/{media['id']}/likes").status_code == 200
    comment = bob.post(f"media/{media['id']}/comments", text="from the other app host")
    assert comment.status_code == 200, comment.text
    read = alice.data(f"media/{media['id']}")
    assert read["likes"]["count"] == 1
    # The caption comes first, as v1 lists it.
    comments = [c["text"] for c in alice.data(f"media/{media['id']}/comments")]
    assert comments == ["Pier at dusk #fleet", "from the other app host"]
    # The photo's renditions through the lb's CDN, from the fleet's S3 server.
    image = http.get(read["images"]["thumbnail"]["url"], timeout=10)
    assert image.status_code == 200
    assert image.headers["Content-Type"] == "image/jpeg"

    def health() -> dict[str, object] | None:
        report: dict[str, object] = http.get(f"{fleet.lb}/health", timeout=15).json()
        return report

    report = health()
    assert report is not None
    components = report["components"]
    print(json.dumps(report, indent=1))
    assert isinstance(components, dict)
    # Every host's server is in the report and up: db1's PostgreSQL (main and both
    # shards) through its pgbouncer, replica1's standby through its own, redis1 and
    # its replica on replica1, cache1, worker1's gearmand and workers, the S3 bucket.
    assert report["status"] == "up", report["down"]
    for name in (
        "postgres:default",
        "postgres:default_replica",
        "postgres:shard0",
        "postgres:shard0_replica",
        "postgres:shard1",
        "postgres:shard1_replica",
        "redis_replica",
        # Each feed shard, primary and replica, found through the Sentinels.
        "redis_feed_0",
        "redis_feed_0_replica",
        "redis_feed_1",
        "redis_feed_1_replica",
        "shard_map",
        "pgbouncer",
        "redis",
        "memcached",
        "gearmand",
        "workers",
        "storage",
    ):
        assert components[name]["status"] == "up", f"{name}: {components[name]}"
    assert components["redis"]["port"] == 6379
    assert components["redis"]["connected_replicas"] == 1
    # Feed shard i on port 6380 + i, each primary with its replica.
    assert [components[f"redis_feed_{i}"]["port"] for i in (0, 1)] == [6380, 6381]
    assert all(components[f"redis_feed_{i}"]["connected_replicas"] == 1 for i in (0, 1))
    assert components["memcached"]["servers"] == 1


def app_processes(fleet: Fleet, host: str) -> list[int]:
    """The pids of the gunicorn master and workers on app host `host`."""
    return [pid for pid in fleet.network.pids(fleet.network.namespace(host)) if b"gunicorn" in cmdline(pid)]


def cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def test_an_app_host_out_under_a_read_load_fails_no_request(fleet: Fleet) -> None:
    """app1's gunicorn killed (nginx retries its requests on app2), then app1 off the network."""
    load, owner = load_fixture(fleet)
    load.start(owner)
    try:
        wait_until(
            lambda: load.served_between(load.started, time.monotonic()) == {"app1", "app2"},
            timeout=30,
            what="both app hosts answering the load",
            fleet=fleet,
        )
        # 1. SIGKILL every gunicorn process of app1: in-flight requests see a reset.
        killed_at = time.monotonic()
        with load.lock:
            in_flight_at_kill = load.in_flight
        for pid in app_processes(fleet, "app1"):
            os.kill(pid, signal.SIGKILL)
        time.sleep(5)
        # 2. app1 drops off the network for 10 s: connects time out (2 s), nginx marks it down.
        fleet.network.link("app1", up=False)
        dropped_at = time.monotonic()
        time.sleep(10)
        # While app1 is off the network only app2 answers (requests nginx had sent
        # app1 over kept-alive connections wait for it, and finish once it is back).
        offline = load.served_between(dropped_at + 3, time.monotonic())
        assert offline <= {"app2"}
        fleet.network.link("app1", up=True)
        # Back on the network (and restarted by its supervisord): nginx sends it requests again.
        wait_until(
            lambda: "app1" in load.served_between(time.monotonic() - 2, time.monotonic()),
            timeout=60,
            what="app1 serving again through the lb",
            fleet=fleet,
        )
    finally:
        fleet.network.link("app1", up=True)
        load.finish()
    lost = load.lost(owner)
    record(
        fleet,
        "app_host_out",
        load.figures(
            in_flight_at_kill=in_flight_at_kill,
            lost_writes=len(lost),
            seconds=round(time.monotonic() - load.started, 1),
        ),
    )
    assert lost == []
    # GETs are retried on the other app server (proxy_next_upstream error timeout):
    # none fails. A POST nginx had already sent to app1 is not resent: the one
    # write in flight at the kill may fail, no other.
    assert load.failed("read") == []
    assert len(load.failed("write")) <= 1, load.failures
    assert all(at >= killed_at for at, _, _ in load.failures), load.failures
    assert offline == {"app2"}, "nothing answered while app1 was off the network"
    assert len(load.answers) > 100


def test_deploy_of_a_new_release_under_load_fails_no_request(fleet: Fleet) -> None:
    load, owner = load_fixture(fleet)
    previous = fleet.revision
    revision = fleet.new_revision("fleet test: second release")
    load.start(owner)
    try:
        time.sleep(2)
        started = time.monotonic()
        fleet.fab("deploy", "--revision", revision, timeout=600)
        fleet.revision = revision
        deploy_seconds = time.monotonic() - started
        time.sleep(2)
    finally:
        load.finish()
    lost = load.lost(owner)
    record(
        fleet,
        "deploy_under_load",
        load.figures(lost_writes=len(lost), deploy_seconds=round(deploy_seconds, 1)),
    )
    assert load.failures == []
    assert lost == []
    releases = [release for _, _, release in load.answers if release]  # /ping's answers
    assert releases[0] == previous
    assert releases[-10:] == [revision] * 10
    assert len(load.answers) > 100
