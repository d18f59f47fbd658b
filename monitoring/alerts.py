"""PagerDuty-style alerting: checks, their state in Redis, and events in the Events API v2 format.

Two rules, evaluated by `manage.py alert_check` (one pass, for cron) or
`manage.py alert_watch` (a loop, under supervisord):

- `health`: GET ALERT_HEALTH_URL (the /health report, through the load
  balancer, as an external monitor sees it) fails (not a 200, or no
  answer). It pages once the check has failed ALERT_HEALTH_FAILURES times
  in a row, or has been failing for ALERT_HEALTH_SECONDS, whichever comes
  first: one slow answer or a restart does not wake anyone.
- `fanout_lag`: the oldest unfinished fan-out is older than
  ALERT_FANOUT_LAG_SECONDS (monitoring.stats). It pages at once: the
  figure is already a duration.

De-duplication: one trigger per incident. A rule's state (failing since,
consecutive failures, whether it triggered) lives in Redis, shared by
every checker; a trigger is sent only when the rule is not already
triggered, and a resolve when it passes again. Each rule has a stable
dedup_key (`instagram/<environment>/<rule>`), so PagerDuty also folds a
trigger sent twice (two checkers racing, Redis down) into one incident.
A trigger PagerDuty did not take is sent again at the next check.
"""

import logging
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import requests
from django.conf import settings
from redis.exceptions import RedisError

from instagram import rediskeys
from instagram.redis_client import redis_primary
from monitoring import stats

logger = logging.getLogger(__name__)

HEALTH = "health"
FANOUT_LAG = "fanout_lag"
SEND_TIMEOUT = 10.0


@dataclass(frozen=True)
class Observation:
    """One check's result: whether it passed, a one-line summary, and details for the responder."""

    ok: bool
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    """When a failing check pages: after `failures` in a row or `seconds` of failing."""

    name: str
    component: str
    severity: str
    failures: int
    seconds: float


def rules() -> dict[str, Rule]:
    return {
        HEALTH: Rule(
            name=HEALTH,
            component="health",
            severity="critical",
            failures=settings.ALERT_HEALTH_FAILURES,
            seconds=settings.ALERT_HEALTH_SECONDS,
        ),
        FANOUT_LAG: Rule(name=FANOUT_LAG, component="feeds", severity="error", failures=1, seconds=0.0),
    }


# ------------------------------------------------------------------ checks


def check_health(url: str | None = None) -> Observation:
    """GET the health report; a 200 passes, anything else (or no answer) fails, naming what is down."""
    url = url or settings.ALERT_HEALTH_URL
    try:
        response = requests.get(url, timeout=15)
    except requests.RequestException as exc:
        return Observation(False, f"{url} does not answer: {type(exc).__name__}", {"error": str(exc)[:500]})
    if response.status_code == 200:
        return Observation(True, f"{url} is up")
    try:
        down = response.json().get("down", [])
    except ValueError:
        down = []
    names = ", ".join(down) if down else f"HTTP {response.status_code}"
    return Observation(False, f"{url} reports down: {names}", {"status": response.status_code, "down": down})


def check_fanout_lag(threshold: float | None = None) -> Observation:
    """Pass while the oldest unfinished fan-out is younger than the threshold."""
    threshold = settings.ALERT_FANOUT_LAG_SECONDS if threshold is None else threshold
    figures = stats.read_stats()
    details = {"pending": figures.fanout_pending, "oldest_seconds": round(figures.fanout_pending_age, 1)}
    if figures.fanout_pending_age > threshold:
        return Observation(
            False,
            f"fan-out is {figures.fanout_pending_age:.0f}s behind ({figures.fanout_pending} posts pending)",
            {**details, "threshold_seconds": threshold},
        )
    return Observation(True, "fan-out keeps up", details)


CHECKS: dict[str, Callable[[], Observation]] = {HEALTH: check_health, FANOUT_LAG: check_fanout_lag}


# ------------------------------------------------------------------ events


def dedup_key(rule: str) -> str:
    return f"instagram/{settings.ENVIRONMENT}/{rule}"


def send_event(body: dict[str, Any]) -> bool:
    """POST one Events API v2 event; return whether PagerDuty accepted it (202)."""
    if not settings.PAGERDUTY_ROUTING_KEY:
        logger.error("alert not sent (no PAGERDUTY_ROUTING_KEY): %s", body)
        return False
    body = {"routing_key": settings.PAGERDUTY_ROUTING_KEY, **body}
    try:
        response = requests.post(settings.PAGERDUTY_EVENTS_URL, json=body, timeout=SEND_TIMEOUT)
    except requests.RequestException as exc:
        logger.error("alert %s %s not sent: %s", body["event_action"], body["dedup_key"], exc)
        return False
    if response.status_code != 202:
        logger.error(
            "alert %s %s refused: %s %s",
            body["event_action"], body["dedup_key"], response.status_code, response.text[:300],
        )  # fmt: skip
        return False
    logger.warning("alert %s %s sent", body["event_action"], body["dedup_key"])
    return True


def trigger_body(
    rule: Rule, observation: Observation, *, failures: int, failing_for: float
) -> dict[str, Any]:
    return {
        "event_action": "trigger",
        "dedup_key": dedup_key(rule.name),
        "client": "instagram alert_check",
        "payload": {
            "summary": f"[{settings.ENVIRONMENT}] {observation.summary}"[:1024],
            "source": socket.gethostname(),
            "severity": rule.severity,
            "component": rule.component,
            "group": settings.ENVIRONMENT,
            "class": rule.name,
            "custom_details": {
                **observation.details,
                "consecutive_failures": failures,
                "failing_for_seconds": round(failing_for, 1),
                "release": settings.RELEASE,
            },
        },
    }


# ------------------------------------------------------------------ state


class StateStore:
    """Each rule's state, in Redis (shared by every checker), or in this process while Redis is down."""

    def __init__(self) -> None:
        self.local: dict[str, dict[str, str]] = {}

    def load(self, rule: str) -> dict[str, str]:
        try:
            raw = cast(dict[bytes, bytes], redis_primary().hgetall(rediskeys.alert_state(rule)))
        except RedisError as exc:
            logger.warning("alert state of %s unreadable (%s); using this process's", rule, exc)
            return dict(self.local.get(rule, {}))
        return {key.decode(): value.decode() for key, value in raw.items()}

    def save(self, rule: str, state: dict[str, str]) -> None:
        self.local[rule] = dict(state)
        key = rediskeys.alert_state(rule)
        try:
            with redis_primary().pipeline() as pipe:
                pipe.delete(key)
                if state:
                    pipe.hset(key, mapping=dict(state.items()))
                pipe.execute()
        except RedisError as exc:
            logger.warning("alert state of %s not saved (%s); kept in this process", rule, exc)


def evaluate(
    rule: Rule, observation: Observation, store: StateStore, *, now: float | None = None
) -> str | None:
    """Update `rule`'s state with one observation; send a trigger or resolve when due.

    Returns "trigger" or "resolve" when one was sent, else None.
    """
    now = time.time() if now is None else now
    state = store.load(rule.name)
    triggered = state.get("triggered") == "1"
    if observation.ok:
        if triggered and not send_event({"event_action": "resolve", "dedup_key": dedup_key(rule.name)}):
            return None  # resolved at the next check
        store.save(rule.name, {})
        return "resolve" if triggered else None
    failures = int(state.get("failures", "0")) + 1
    since = float(state.get("since", now))
    state.update({"failures": str(failures), "since": str(since)})
    due = failures >= rule.failures or now - since >= rule.seconds
    sent = None
    if due and not triggered:
        body = trigger_body(rule, observation, failures=failures, failing_for=now - since)
        if send_event(body):
            state["triggered"] = "1"
            sent = "trigger"
    store.save(rule.name, state)
    return sent


def run_checks(
    store: StateStore, checks: Mapping[str, Callable[[], Observation]] | None = None
) -> dict[str, str | None]:
    """Run every check once and evaluate its rule; return what each one sent."""
    outcome: dict[str, str | None] = {}
    for name, check in (checks or CHECKS).items():
        try:
            observation = check()
        except Exception as exc:  # a check that cannot run counts as failing
            logger.warning("alert check %s could not run: %s", name, exc)
            observation = Observation(False, f"the {name} check cannot run: {type(exc).__name__}: {exc}")
        outcome[name] = evaluate(rules()[name], observation, store)
    return outcome
