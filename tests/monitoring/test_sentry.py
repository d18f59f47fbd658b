"""Errors reach Sentry (the stack's Sentry sandbox) from views and jobs, without personal data."""

import json
import uuid
from typing import Any

import pytest
import requests
from django.conf import settings

from instagram.requestid import request_id_var
from monitoring.sentry import scrub_event, scrub_text
from tests.conftest import Stack, wait_for
from tests.monitoring.helpers import recorded
from workers import functions
from workers.payloads import Ping
from workers.submit import submit_job_rollback_unsafe


def events(stack: Stack, *, after: int = 0) -> list[dict[str, Any]]:
    """Every error event the Sentry sandbox received (from the `after`-th envelope on)."""
    return [
        item["payload"]
        for envelope in recorded(stack, "sentry", after=after)
        for item in envelope["items"]
        if item["headers"]["type"] == "event"
    ]


def event_tagged(stack: Stack, request_id: str) -> dict[str, Any] | None:
    return next((e for e in events(stack) if e.get("tags", {}).get("request_id") == request_id), None)


@pytest.mark.disruptive
def test_an_unhandled_error_in_a_view_arrives_without_personal_data(
    healthy_stack: Stack, http: requests.Session
) -> None:
    request_id = f"sentry-view-{uuid.uuid4().hex[:12]}"
    password = f"secret-{uuid.uuid4().hex[:8]}"
    # A scanner's request for another host: a 400 logged, not a bug reported.
    scanner_id = f"sentry-host-{uuid.uuid4().hex[:12]}"
    scanned = http.get(
        f"{healthy_stack.api}/ping", headers={"Host": "evil.example", "X-Request-ID": scanner_id}, timeout=15
    )
    assert scanned.status_code == 400
    # PostgreSQL's pooler down: the sign-up's insert raises in the view; the
    # client gets an enveloped 503 naming the database, operators the report.
    with healthy_stack.stopped("pgbouncer"):
        response = http.post(
            f"{healthy_stack.api}/v1/accounts/signup?access_token=query-token-1234",
            data={
                "username": f"mon_{uuid.uuid4().hex[:10]}",
                "password": password,
                "email": "kevin@example.com",
            },
            headers={
                "X-Request-ID": request_id,
                "Authorization": "Bearer header-token-5678",
                "Cookie": "sessionid=cookie-9012",
            },
            timeout=15,
        )
    assert response.status_code == 503
    assert response.json()["meta"]["error_type"] == "APIUnavailableError"
    assert response.json()["meta"]["error_message"].startswith("The database is unavailable")
    assert response.headers["X-Request-ID"] == request_id
    event = wait_for(lambda: event_tagged(healthy_stack, request_id), timeout=20)
    assert event["environment"] == healthy_stack.profile.name
    assert event["release"] == settings.RELEASE
    assert event["level"] == "error"
    assert event["exception"]["values"][-1]["type"] == "OperationalError"
    assert event["request"]["method"] == "POST"
    assert event["request"]["url"].endswith("/v1/accounts/signup")
    assert event["request"]["query_string"] == "access_token=[Filtered]"
    assert set(event["request"]["headers"]) <= {
        "Host",
        "User-Agent",
        "Accept",
        "Content-Type",
        "Content-Length",
        "X-Request-Id",
        "X-Forwarded-Proto",
    }
    sent = json.dumps(event)
    for secret in (password, "kevin@example.com", "query-token-1234", "header-token-5678", "cookie-9012"):
        assert secret not in sent
    assert "user" not in event
    assert event_tagged(healthy_stack, scanner_id) is None
    # One event: the error log line that follows the report is not a second one.
    assert sum(e.get("tags", {}).get("request_id") == request_id for e in events(healthy_stack)) == 1
    assert all(
        "vars" not in frame
        for value in event["exception"]["values"]
        for frame in value["stacktrace"]["frames"]
    )


def test_a_failed_job_attempt_arrives_tagged_with_its_job_and_request(stack: Stack) -> None:
    request_id = f"sentry-job-{uuid.uuid4().hex[:12]}"
    reset = request_id_var.set(request_id)
    try:
        job_id = submit_job_rollback_unsafe(Ping(token=uuid.uuid4().hex, fail_attempts=1))
    finally:
        request_id_var.reset(reset)
    event = wait_for(lambda: event_tagged(stack, request_id), timeout=20)
    assert event["tags"]["job"] == functions.PING
    assert event["tags"]["job_id"] == job_id
    assert event["tags"]["attempt"] == "1/3"
    assert event["level"] == "warning"  # retried, not parked
    assert event["environment"] == stack.profile.name
    assert event["release"] == settings.RELEASE
    exception = event["exception"]["values"][-1]
    assert exception["type"] == "ProbeFailure"
    assert exception["value"] == "the ping asked to fail attempt 1"
    # The retry succeeded: exactly one event for this request.
    assert sum(e.get("tags", {}).get("request_id") == request_id for e in events(stack)) == 1


def test_scrubbing_keeps_what_helps_and_drops_what_identifies() -> None:
    event: Any = {
        "user": {"id": "42", "ip_address": "203.0.113.5"},
        "request": {
            "url": "http://localhost/v1/users/self",
            "query_string": "count=5&access_token=abc.def&client_secret=s3cr3t",
            "cookies": {"sessionid": "x"},
            "data": {"password": "pw"},
            "env": {"REMOTE_ADDR": "203.0.113.5"},
            "headers": {
                "Authorization": "Bearer abc",
                "User-Agent": "Instagram 1.0",
                "X-Forwarded-For": "203.0.113.5",
            },
        },
        "exception": {"values": [{"type": "ValueError", "value": "bad code=XYZ for mail kevin@example.com"}]},
        "breadcrumbs": {"values": [{"message": "GET /oauth/authorize?client_id=1&code=abc", "data": {}}]},
    }
    reset = request_id_var.set("req-1")
    try:
        scrubbed: Any = scrub_event(event, {})
    finally:
        request_id_var.reset(reset)
    assert "user" not in scrubbed
    assert scrubbed["request"]["query_string"] == "count=5&access_token=[Filtered]&client_secret=[Filtered]"
    assert scrubbed["request"]["headers"] == {"User-Agent": "Instagram 1.0"}
    assert {"cookies", "data", "env"}.isdisjoint(scrubbed["request"])
    assert scrubbed["exception"]["values"][0]["value"] == "bad code=[Filtered] for mail [Filtered]"
    assert (
        scrubbed["breadcrumbs"]["values"][0]["message"] == "GET /oauth/authorize?client_id=1&code=[Filtered]"
    )
    assert scrubbed["tags"] == {"request_id": "req-1"}
    assert scrub_text("Authorization: Bearer eyJ.abc") == "Authorization: Bearer [Filtered]"
