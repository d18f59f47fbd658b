"""PagerDuty-style alerts: when they page, that they page once, and resolve, against the sandbox."""

import io
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from instagram import rediskeys
from instagram.redis_client import redis_primary
from monitoring import alerts
from monitoring.alerts import FANOUT_LAG, HEALTH, Observation, StateStore, check_fanout_lag, run_checks
from tests.conftest import Stack, wait_for
from tests.monitoring.helpers import recorded
from tests.photos.images import jpeg
from tests.v1 import sign_up


@pytest.fixture
def pager(stack: Stack) -> Iterator[int]:
    """Fresh alert state, health paging at the second failure in a row; yields the sandbox's event count."""

    def clear() -> None:
        redis_primary().delete(rediskeys.alert_state(HEALTH), rediskeys.alert_state(FANOUT_LAG))

    clear()
    with override_settings(ALERT_HEALTH_FAILURES=2, ALERT_HEALTH_SECONDS=3600.0):
        yield len(recorded(stack, "pagerduty"))
    clear()


def sent(stack: Stack, after: int) -> list[tuple[str, str]]:
    return [
        (event["event_action"], event["dedup_key"]) for event in recorded(stack, "pagerduty", after=after)
    ]


class Script:
    """A health probe that answers what the test says, in order."""

    def __init__(self, *answers: bool) -> None:
        self.answers = list(answers)

    def __call__(self) -> Observation:
        ok = self.answers.pop(0)
        return Observation(ok, "up" if ok else "http://app/health reports down: redis", {"down": ["redis"]})


def test_health_pages_once_after_failures_in_a_row_then_resolves(stack: Stack, pager: int) -> None:
    probe = Script(False, True, False, False, False, False, True, True)
    store = StateStore()
    outcomes = [run_checks(store, {HEALTH: probe})[HEALTH] for _ in range(8)]
    # A single failure between successes pages nobody; the second in a row
    # does, once; the first success resolves.
    assert outcomes == [None, None, None, "trigger", None, None, "resolve", None]
    key = f"instagram/{stack.profile.name}/health"
    assert sent(stack, pager) == [("trigger", key), ("resolve", key)]
    trigger: dict[str, Any] = recorded(stack, "pagerduty", after=pager)[0]
    assert trigger["status"] == 202
    assert trigger["routing_key_sha256"]
    assert trigger["payload"]["summary"] == f"[{stack.profile.name}] http://app/health reports down: redis"
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["component"] == "health"
    assert trigger["payload"]["custom_details"]["down"] == ["redis"]
    assert trigger["payload"]["custom_details"]["consecutive_failures"] == 2


def test_failing_longer_than_the_time_limit_pages_before_the_count(stack: Stack, pager: int) -> None:
    rule = alerts.Rule(name=HEALTH, component="health", severity="critical", failures=100, seconds=60)
    store, down = StateStore(), Observation(False, "down")
    assert alerts.evaluate(rule, down, store, now=1000.0) is None
    assert alerts.evaluate(rule, down, store, now=1059.0) is None
    assert alerts.evaluate(rule, down, store, now=1060.0) == "trigger"
    assert alerts.evaluate(rule, Observation(True, "up"), store, now=1061.0) == "resolve"


def test_a_trigger_pagerduty_did_not_take_is_sent_at_the_next_check(stack: Stack, pager: int) -> None:
    store = StateStore()
    with override_settings(
        PAGERDUTY_EVENTS_URL=settings.PAGERDUTY_EVENTS_URL.replace("/v2/", "/v9/")
    ):  # a 404
        assert run_checks(store, {HEALTH: Script(False)})[HEALTH] is None
        assert run_checks(store, {HEALTH: Script(False)})[HEALTH] is None
    assert run_checks(store, {HEALTH: Script(False)})[HEALTH] == "trigger"
    assert run_checks(store, {HEALTH: Script(True)})[HEALTH] == "resolve"


def test_the_sandbox_refuses_events_pagerduty_would_refuse(stack: Stack, http: requests.Session) -> None:
    url = f"http://127.0.0.1:{stack.profile.sandbox_pagerduty}/v2/enqueue"
    answer = http.post(url, json={"routing_key": "k", "event_action": "trigger", "payload": {"summary": "x"}})
    assert answer.status_code == 400
    assert answer.json()["status"] == "invalid event"
    assert len(answer.json()["errors"]) == 2  # no source, no severity
    resolve = http.post(url, json={"routing_key": "k", "event_action": "resolve"})
    assert resolve.status_code == 400  # a resolve needs the dedup_key


@pytest.mark.disruptive
def test_health_failing_on_the_real_stack_pages_and_resolves(healthy_stack: Stack, pager: int) -> None:
    def check() -> str:
        out = io.StringIO()
        call_command("alert_check", stdout=out)
        return out.getvalue()

    with healthy_stack.stopped("memcached"):
        assert "health: nothing sent" in check()
        assert "health: trigger" in check()
        assert "health: nothing sent" in check()
    wait_for(lambda: "health: resolve" in check(), timeout=30, interval=0.5)
    key = f"instagram/{healthy_stack.profile.name}/health"
    assert sent(healthy_stack, pager) == [("trigger", key), ("resolve", key)]
    trigger = recorded(healthy_stack, "pagerduty", after=pager)[0]
    assert "memcached" in trigger["payload"]["summary"]
    assert trigger["payload"]["custom_details"]["status"] == 503


@pytest.mark.disruptive
def test_fanout_lag_pages_while_workers_stop_and_resolves_once_they_catch_up(
    healthy_stack: Stack, http: requests.Session, pager: int
) -> None:
    author = sign_up(healthy_stack.api, http, prefix="mon_lag")
    store = StateStore()
    lag = {FANOUT_LAG: lambda: check_fanout_lag(threshold=1.0)}
    with healthy_stack.stopped("worker:*"):
        author.post_photo(jpeg(160, 160))
        wait_for(lambda: run_checks(store, lag)[FANOUT_LAG] == "trigger", timeout=10, interval=0.2)
    wait_for(lambda: run_checks(store, lag)[FANOUT_LAG] == "resolve", timeout=30, interval=0.2)
    key = f"instagram/{healthy_stack.profile.name}/fanout_lag"
    assert sent(healthy_stack, pager) == [("trigger", key), ("resolve", key)]
    trigger = recorded(healthy_stack, "pagerduty", after=pager)[0]
    assert trigger["payload"]["component"] == "feeds"
    assert trigger["payload"]["custom_details"]["pending"] >= 1
    assert trigger["payload"]["custom_details"]["oldest_seconds"] >= 1.0
