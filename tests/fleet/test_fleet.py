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
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import requests

from tests.fleet.fleet import Fleet, FleetError
from tests.photos.images import jpeg

pytestmark = [pytest.mark.fleet, pytest.mark.timeout(900)]

SERVICE_HOSTS = ("db1", "redis1", "cache1", "worker1")


def session() -> requests.Session:
    http = requests.Session()
    http.trust_env = False  # the fleet's addresses, never through a proxy of the environment
    return http


def wait_until(check: Callable[[], object], *, timeout: float, what: str, fleet: Fleet) -> object:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (requests.RequestException, ValueError, KeyError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.5)
    raise FleetError(f"{what}: not within {timeout:.0f}s (last: {last!r}){fleet.log_tails()}")


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


def record(fleet: Fleet, name: str, figures: dict[str, object]) -> None:
    fleet.figures[name] = figures
    print(f"\nFLEET FIGURES {name}: {json.dumps(figures)}")
    (fleet.workdir.parent / f"{fleet.workdir.name}-figures.json").write_text(
        json.dumps(fleet.figures, indent=2)
    )


def test_setup_provisions_every_role_and_a_second_run_changes_nothing(fleet: Fleet) -> None:
    first = fleet.fab("setup", "--env", str(fleet.env_file))
    assert "initdb: a new PostgreSQL cluster" in first.stdout
    assert "database instagram_shard1 created" in first.stdout
    assert "nginx started" in first.stdout
    servers = {
        "db1": {"instagram-postgresql", "instagram-pgbouncer"},
        "redis1": {"instagram-redis"},
        "cache1": {"instagram-memcached"},
        "worker1": {"instagram-gearmand"},
    }
    pids = {host: supervised_pids(fleet, host) for host in SERVICE_HOSTS}
    for host, names in servers.items():
        assert set(pids[host]) == names, f"{host}: {pids[host]}{fleet.log_tails()}"
    # Each server listens on its host's own address (the apps reach them over the bridge).
    for host, port in (("db1", 6432), ("redis1", 6379), ("cache1", 11211), ("worker1", 4730)):
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


@dataclass
class Deployed:
    revision: str = ""


DEPLOYED = Deployed()


def test_deploy_brings_the_fleet_up_and_the_api_answers_through_the_lb(fleet: Fleet) -> None:
    revision = fleet.new_revision("fleet test: first release")
    fleet.fab("deploy", "--revision", revision, timeout=600)
    DEPLOYED.revision = revision
    # The media bucket, once, from an app host (docs/deploy.md).
    bucket = fleet.manage("app1", "ensure_bucket")
    assert bucket.returncode == 0, bucket.stdout + bucket.stderr

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
    assert [c["text"] for c in alice.data(f"media/{media['id']}/comments")] == ["from the other app host"]
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
    # shards) through its pgbouncer, redis1, cache1, worker1's gearmand and workers,
    # the S3 bucket. The `_replica` names reach the primary (no standby here).
    for name in (
        "postgres:main",
        "postgres:shard0",
        "postgres:shard1",
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
    assert components["memcached"]["servers"] == 1
