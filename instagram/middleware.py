"""Request logging and error rendering, outermost in MIDDLEWARE."""

import contextvars
import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from instagram.errors import as_api_error, error_envelope, render_api_error, unavailable_component
from instagram.request_memo import open_request_memo
from instagram.requestid import clean_request_id, request_id_var
from monitoring.sentry import capture_request_exception
from ratelimits.credentials import CredentialsThrottled, remember_address

logger = logging.getLogger("instagram.request")
# Log-in pages people see: a throttled attempt there is a page, not JSON.
HTML_LOG_INS = ("/oauth/login", "/admin/")


class RequestLogMiddleware:
    """Log one line per request: method, path, status, duration, request id.

    The id comes from nginx's X-Request-ID (or is minted here), is echoed in
    the response and travels inside every job the request submits. The JSON
    format (LOG_FORMAT=json) also gets the route (the URL pattern, so one
    endpoint's lines group together), the status, the duration and the
    caller's user id as fields of their own.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # A fresh context per request: gunicorn threads serve many requests,
        # and no context variable (request id, shard context, read-your-writes
        # marks) may carry over from one to the next.
        return request_context().run(self._handle, request)

    def _handle(self, request: HttpRequest) -> HttpResponse:
        request_id = clean_request_id(request.headers.get("X-Request-ID"))
        request_id_var.set(request_id)
        open_request_memo()
        remember_address(request)
        started = time.perf_counter()
        response = self.get_response(request)
        duration_ms = (time.perf_counter() - started) * 1000
        logger.info(
            "%s %s %s %.1fms",
            request.method, request.path, response.status_code, duration_ms,
            extra=request_fields(request, response, duration_ms),
        )  # fmt: skip
        response["X-Request-ID"] = request_id
        usage = getattr(request, "rate_limit", None)
        if usage is not None:
            response["X-Ratelimit-Limit"] = str(usage.limit)
            response["X-Ratelimit-Remaining"] = str(usage.remaining)
        if settings.APP_SERVER_NAME:
            response["X-Served-By"] = settings.APP_SERVER_NAME
        return response


_thread = threading.local()


def request_context() -> contextvars.Context:
    """Return a context for one request: a copy of this thread's base context, where nothing is set
    but Django's cache clients.

    Django keeps its cache clients in a context-local (asgiref's Local, not
    thread-critical, unlike its database connections): in an empty context
    per request, every request made a new memcached client, and so a new TCP
    connection to memcached (docs/performance.md, change 8). The base context
    opens them once per thread; a request's copy shares them, and whatever
    the request sets stays in its copy.
    """
    base: contextvars.Context | None = getattr(_thread, "context", None)
    if base is None:
        base = contextvars.Context()
        base.run(_open_caches)
        _thread.context = base
    return base.copy()


def _open_caches() -> None:
    for alias in settings.CACHES:
        caches[alias]


def request_fields(request: HttpRequest, response: HttpResponse, duration_ms: float) -> dict[str, object]:
    """Return the request-log line's fields for the JSON format (instagram/logformat.py)."""
    match = request.resolver_match
    user = getattr(request, "api_user", None)
    return {
        # The pattern, never the raw path: no id or shortcode, one value per endpoint.
        "route": f"/{match.route}" if match is not None else None,
        "method": request.method,
        "status": response.status_code,
        "duration_ms": round(duration_ms, 1),
        "user_id": user.pk if user is not None else None,
    }


class APIErrorMiddleware:
    """Render APIError as its envelope and any other exception as a bare 500.

    The traceback goes to the log (with the request id), never to the client.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if unavailable_component(exception) is not None:
            # A component is down: the client gets an enveloped 503, operators
            # the report (first, with the request; the log line as_api_error
            # writes after it is the same exception, deduplicated by Sentry).
            capture_request_exception(exception, request)
        error = as_api_error(exception)
        if isinstance(error, CredentialsThrottled) and request.path.startswith(HTML_LOG_INS):
            response = render(request, "oauth/throttled.html", {"message": error.message}, status=429)
            for name, value in error.headers.items():
                response[name] = value
            return response
        if error is not None:
            return render_api_error(error)
        if isinstance(exception, Http404):
            return error_envelope(status=404, error_type="APINotFoundError", message="Not found.")
        if isinstance(exception, PermissionDenied):
            return error_envelope(status=403, error_type="APINotAllowedError", message="Not allowed.")
        # Django never sees the exception (this returns a response), so
        # neither does Sentry's Django integration: report it here.
        capture_request_exception(exception, request)
        logger.error("unhandled error in %s %s", request.method, request.path, exc_info=exception)
        return error_envelope(
            status=500,
            error_type="APIError",
            message=f"Internal server error (request id {request_id_var.get()}).",
        )
