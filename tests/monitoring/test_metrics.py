"""/metrics: the counters kept in Redis, fan-out lag, Gearman, standbys, and request latency."""

import requests
from django.test import Client

from tests.conftest import Stack, wait_for
from tests.monitoring.helpers import app_server, scrape, value
from tests.photos.images import jpeg
from tests.v1 import sign_up


def test_signups_photos_and_likes_are_counted_once_committed(
    healthy_stack: Stack, http: requests.Session
) -> None:
    before = scrape(healthy_stack, http)
    alice = sign_up(healthy_stack.api, http, prefix="mon_alice")
    bob = sign_up(healthy_stack.api, http, prefix="mon_bob")
    media = alice.post_photo(jpeg(160, 160))
    for _ in range(2):  # liking twice is one like
        assert bob.post(f"media/{media['id']}/likes").status_code == 200
    failed = http.post(
        f"{healthy_stack.api}/v1/accounts/signup", data={"username": alice.username}, timeout=15
    )
    assert failed.status_code == 400  # no password: nothing committed, nothing counted

    def fanned_out() -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
        after = scrape(healthy_stack, http)
        done = value(after, "instagram_fanout_lag_seconds_count") > value(
            before, "instagram_fanout_lag_seconds_count"
        )
        return after if done and value(after, "instagram_fanout_pending") == 0 else None

    after = wait_for(fanned_out)
    for name, added in (
        ("instagram_signups_total", 2),
        ("instagram_photos_posted_total", 1),
        ("instagram_likes_total", 1),
        ("instagram_fanout_lag_seconds_count", 1),
    ):
        assert value(after, name) - value(before, name) == added, name
    lag = value(after, "instagram_fanout_lag_last_seconds")
    assert 0 < lag < 15
    assert (
        value(after, "instagram_fanout_lag_seconds_sum") - value(before, "instagram_fanout_lag_seconds_sum")
        > 0
    )
    assert value(after, "instagram_fanout_pending_age_seconds") == 0


def test_gearman_and_standby_figures_are_read_from_the_servers(
    healthy_stack: Stack, http: requests.Session
) -> None:
    samples = scrape(healthy_stack, http)
    workers = healthy_stack.profile.workers
    assert value(samples, "instagram_gearman_connected_workers") == workers
    assert value(samples, "instagram_gearman_workers", function="media_posted_v1") == workers
    assert ("instagram_gearman_queued", frozenset({("function", "feed_fanout_v1")})) in samples
    for replica in ("default_replica", "shard0_replica", "shard1_replica"):
        assert ("instagram_replica_lag_bytes", frozenset({("database", replica)})) in samples
        assert value(samples, "instagram_replica_lag_seconds", database=replica) < 60
    for source in ("redis", "gearmand", "replica:default_replica", "replica:shard1_replica"):
        assert value(samples, "instagram_collector_up", source=source) == 1
    build = [labels for name, labels in samples if name == "instagram_build_info"]
    assert dict(build[0])["environment"] == healthy_stack.profile.name


def test_request_latency_histograms_add_up_every_gunicorn_process(
    healthy_stack: Stack, http: requests.Session
) -> None:
    labels = {"route": "/ping", "method": "GET", "status": "200"}
    before = value(scrape(healthy_stack, http), "instagram_http_request_duration_seconds_count", **labels)
    for _ in range(40):
        # A new connection each time, so that both worker processes serve some.
        assert requests.get(f"{app_server(healthy_stack)}/ping", timeout=10).status_code == 200
    # Each scrape may be answered by either process: both see every process's requests.
    for _ in range(4):
        after = scrape(healthy_stack, http)
        count = value(after, "instagram_http_request_duration_seconds_count", **labels)
        assert count - before == 40
        assert value(after, "instagram_http_request_duration_seconds_bucket", le="+Inf", **labels) == count
    unmatched = http.get(f"{app_server(healthy_stack)}/no/such/page/12345", timeout=10)
    assert unmatched.status_code == 404
    samples = scrape(healthy_stack, http)
    # Routes, never raw paths: ids in paths would grow the series without bound.
    assert (
        value(
            samples,
            "instagram_http_request_duration_seconds_count",
            route="unmatched",
            method="GET",
            status="404",
        )
        >= 1
    )
    assert not any("12345" in str(labels) for _, labels in samples)


def test_metrics_answer_only_allowed_addresses(healthy_stack: Stack, http: requests.Session) -> None:
    assert http.get(f"{healthy_stack.api}/metrics", timeout=15).status_code == 200  # nginx on loopback
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    refused = Client(REMOTE_ADDR="192.0.2.10").get("/metrics")
    assert refused.status_code == 403
    assert refused.json()["meta"]["error_type"] == "APINotAllowedError"
    # Through a load balancer on an allowed address: the client it saw (the
    # last X-Forwarded-For entry, which nginx appends) must be allowed too.
    proxied = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.1, 198.51.100.7")
    assert proxied.get("/metrics").status_code == 403
    assert (
        Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7, 127.0.0.1")
        .get("/metrics")
        .status_code
        == 200
    )
    assert Client(REMOTE_ADDR="127.0.0.1").post("/metrics").status_code == 405
