"""Error reporting to Sentry (sentry-sdk), without personal data.

`init_sentry` runs once per process (monitoring.apps) when SENTRY_DSN is
set. Events carry the release and environment, and the request id as a tag
so a Sentry issue leads to the log lines of its request and jobs.

What is never sent: cookies, request bodies (passwords, captions, emails),
headers other than a short list of harmless ones, the user, local variables
of stack frames (they hold tokens and passwords), and in every string left
(query strings, exception messages, breadcrumbs) the values of secret
parameters (access_token, client_secret, code, password...), bearer tokens
and email addresses are replaced.
"""

import re
from typing import Any

import sentry_sdk
from django.conf import settings
from django.http import HttpRequest
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.logging import ignore_logger
from sentry_sdk.integrations.redis import RedisIntegration
from sentry_sdk.integrations.threading import ThreadingIntegration
from sentry_sdk.types import Event, Hint

from instagram.requestid import request_id_var
from workers.jobs import JobContext

FILTERED = "[Filtered]"
SECRET_PARAMETER_NAMES = [
    "access_token",
    "refresh_token",
    "client_secret",
    "code",
    "password",
    "token",
    "secret",
    "sig",
    "signature",
    "hub.verify_token",
    "hub.challenge",
]
SECRET_PARAMETER = re.compile(
    rf"(?i)\b({'|'.join(re.escape(name) for name in SECRET_PARAMETER_NAMES)})=[^&\s\"'#]*"
)
CREDENTIALS = re.compile(r"(?i)\b(bearer|basic|oauth)\s+[\w.~+/=,\"-]+")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# Headers worth seeing in an error report that hold nothing personal.
KEPT_HEADERS = frozenset(
    {"accept", "content-length", "content-type", "host", "user-agent", "x-request-id", "x-forwarded-proto"}
)


def init_sentry() -> None:
    """Start reporting this process's errors to settings.SENTRY_DSN."""
    sentry_sdk.init(
        dsn=settings.SENTRY_DSN,
        release=settings.RELEASE,
        environment=settings.ENVIRONMENT,
        server_name=settings.APP_SERVER_NAME or None,
        integrations=[
            DjangoIntegration(middleware_spans=False, signals_spans=False, cache_spans=False),
            # gunicorn's gthread worker hands each request to its thread pool:
            # propagating the pool owner's scope forked two scopes per request
            # (9% of an app server's CPU) to carry nothing; each request gets
            # its own isolation scope from the WSGI integration anyway.
            ThreadingIntegration(propagate_scope=False),
        ],
        # The Redis integration wraps every command in a span and a breadcrumb:
        # it cost more CPU than the command itself (users/self's rate-limit
        # EVALSHA: docs/performance.md, change 7), on every request and on the
        # feed's twenty-odd commands. A Redis error still reaches Sentry as the
        # exception it raises.
        disabled_integrations=[RedisIntegration()],
        # What the integrations collect at all; scrub_event then checks every event.
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_headers": {"request": {"mode": "allowlist", "terms": sorted(KEPT_HEADERS)}},
            "http_bodies": [],
            "url_query_params": {"mode": "denylist", "terms": SECRET_PARAMETER_NAMES},
            "graphql": {"document": False, "variables": False},
            "gen_ai": {"inputs": False, "outputs": False},
            "database_query_data": False,
            "queues": False,
            "stack_frame_variables": False,
        },
        # Breadcrumbs are scrubbed with the event they travel in (scrub_event
        # sees event["breadcrumbs"]), not one by one as each is recorded: a
        # request records a few, and almost none of them is ever sent.
        before_send=scrub_event,
    )
    # A request for another host name is a scanner's doing (Django answers
    # 400), not a bug: it stays in the log, out of Sentry.
    ignore_logger("django.security.DisallowedHost")


def scrub_text(text: str) -> str:
    """Return `text` with secret parameters' values, credentials and email addresses replaced."""
    text = SECRET_PARAMETER.sub(lambda match: f"{match.group(1)}={FILTERED}", text)
    text = CREDENTIALS.sub(lambda match: f"{match.group(1)} {FILTERED}", text)
    return EMAIL.sub(FILTERED, text)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {key: _scrub(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    return value


def scrub_event(event: Event, hint: Hint) -> Event:
    """Strip personal data from an event (before_send), and tag it with the request id."""
    event.pop("user", None)
    request: Any = event.get("request")  # a dict Sentry's types describe loosely
    if request:
        for key in ("cookies", "data", "env"):
            request.pop(key, None)
        headers: dict[str, str] = request.get("headers") or {}
        request["headers"] = {name: value for name, value in headers.items() if name.lower() in KEPT_HEADERS}
    tags = event.setdefault("tags", {})
    request_id = request_id_var.get()
    if isinstance(tags, dict) and request_id != "-":
        tags.setdefault("request_id", request_id)
    scrubbed: Event = _scrub(event)
    return scrubbed


def capture_request_exception(exc: BaseException, request: HttpRequest) -> None:
    """Report an exception a view raised and the error middleware turned into a 500.

    The request log middleware runs each request in a fresh context, where
    the Django integration's scope (and its request data) is not: the
    request's method, URL, query string and harmless headers are added here.
    """
    match = getattr(request, "resolver_match", None)

    headers = {name: value for name, value in request.headers.items() if name.lower() in KEPT_HEADERS}

    def add_request(event: Event, hint: Hint) -> Event:
        event["request"] = {
            "method": request.method,
            "url": request.build_absolute_uri(request.path),
            "query_string": request.META.get("QUERY_STRING", ""),
            "headers": headers,
        }
        return event

    with sentry_sdk.new_scope() as scope:
        scope.add_event_processor(add_request)
        if match is not None:
            scope.set_transaction_name(f"/{match.route}")
        sentry_sdk.capture_exception(exc)


def capture_job_failure(exc: BaseException, *, ctx: JobContext, parked: bool) -> None:
    """Report a failed job attempt: a warning while it will be retried, an error once parked."""
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("job", ctx.function)
        scope.set_tag("job_id", ctx.job_id)
        scope.set_tag("request_id", ctx.request_id)
        scope.set_tag("attempt", f"{ctx.attempt}/{ctx.max_attempts}")
        scope.set_tag("worker", ctx.worker_id)
        scope.set_level("error" if parked else "warning")
        sentry_sdk.capture_exception(exc)
