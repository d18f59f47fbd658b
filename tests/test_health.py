"""/health reports every component to operators, names the one that is down, and only up/down to others."""

import json
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection

import pytest
import requests

from tests.conftest import ROOT, Stack, wait_for

COMPONENTS = {
    "postgres:default",
    "postgres:shard0",
    "postgres:shard1",
    "postgres:default_replica",
    "postgres:shard0_replica",
    "postgres:shard1_replica",
    "pgbouncer",
    "shard_map",
    "redis",
    "redis_replica",
    # The stack's two feed shards, each a primary and a replica.
    "redis_feed_0",
    "redis_feed_0_replica",
    "redis_feed_1",
    "redis_feed_1_replica",
    "memcached",
    "gearmand",
    "workers",
    "storage",
}


def test_health_reports_every_component_up(healthy_stack: Stack, http: requests.Session) -> None:
    response = http.get(f"{healthy_stack.api}/health", timeout=10)
    report = response.json()
    assert response.status_code == 200
    assert report["status"] == "up"
    assert set(report["components"]) == COMPONENTS
    assert all(c["status"] == "up" for c in report["components"].values())
    assert report["components"]["workers"]["live"] == 2
    assert report["components"]["pgbouncer"]["pool_mode"] == "transaction"
    assert report["components"]["redis"]["connected_replicas"] == 1
    ports = {report["components"][f"redis_feed_{i}"]["port"] for i in (0, 1)}
    assert ports == set(healthy_stack.profile.redis_feeds)


def test_health_and_x_release_name_the_version_of_pyproject(
    healthy_stack: Stack, http: requests.Session
) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    response = http.get(f"{healthy_stack.api}/health", timeout=10)
    report = response.json()
    assert report["version"] == version
    assert response.headers["X-Release"] == f"{version}+{report['release']}"
    assert (
        http.get(f"{healthy_stack.api}/ping", timeout=10).headers["X-Release"]
        == f"{version}+{report['release']}"
    )
    # The CHANGELOG keeps that version.
    assert f"## [{version}] - " in (ROOT / "CHANGELOG.md").read_text()


@pytest.mark.disruptive
def test_health_is_503_naming_what_is_down(healthy_stack: Stack, http: requests.Session) -> None:
    with healthy_stack.stopped("memcached"):
        response = http.get(f"{healthy_stack.api}/health", timeout=10)
    assert response.status_code == 503
    report = response.json()
    assert report["down"] == ["memcached"]
    assert report["components"]["memcached"]["status"] == "down"


@pytest.mark.disruptive
def test_health_counts_live_workers(healthy_stack: Stack, http: requests.Session) -> None:
    def report() -> dict[str, object] | None:
        response = http.get(f"{healthy_stack.api}/health", timeout=10)
        return response.json() if response.status_code == 503 else None

    with healthy_stack.stopped("worker:*"):
        assert wait_for(report)["down"] == ["workers"]


def test_concurrent_health_checks_do_not_trip_each_other(healthy_stack: Stack) -> None:
    def status(_: int) -> int:
        return requests.get(f"{healthy_stack.api}/health", timeout=30).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(status, range(40)))
    assert statuses == [200] * 40


OUTSIDER = "127.0.0.2"  # loopback, but outside the test stacks' HEALTH_ALLOWED_IPS (the default)


def public_health(stack: Stack) -> tuple[int, dict[str, object]]:
    """GET /health through nginx from 127.0.0.2, an address nginx reports as the client."""
    connection = HTTPConnection("127.0.0.1", stack.profile.nginx, timeout=10, source_address=(OUTSIDER, 0))
    connection.request("GET", "/health", headers={"X-Forwarded-For": "127.0.0.1"})  # a spoof nginx appends to
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    return response.status, body


def test_outsiders_get_only_up_or_down(healthy_stack: Stack) -> None:
    status, body = public_health(healthy_stack)
    assert (status, body) == (200, {"meta": {"code": 200}, "data": {"status": "ok"}})


@pytest.mark.disruptive
def test_outsiders_get_an_enveloped_503_naming_nothing_inside(
    healthy_stack: Stack, http: requests.Session
) -> None:
    with healthy_stack.stopped("memcached"):
        time.sleep(1.1)  # past the public answer's one-second reuse
        status, body = public_health(healthy_stack)
        detail = http.get(f"{healthy_stack.api}/health", timeout=10).json()
    assert status == 503
    assert body == {
        "meta": {
            "code": 503,
            "error_type": "APIUnavailableError",
            "error_message": "The service is degraded; retry shortly.",
        }
    }
    # Operators see which component, and the error's class, never its text (hosts, ports).
    memcached = detail["components"]["memcached"]
    assert set(memcached) == {"status", "error", "ms"}
    assert memcached["status"] == "down"
    assert memcached["error"].isidentifier()
