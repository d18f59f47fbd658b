"""/health reports every component, and names the one that is down."""

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import Stack, wait_for

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
