"""The request latency histogram, outermost in MIDDLEWARE."""

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from prometheus_client import Histogram

REQUEST_SECONDS = Histogram(
    "instagram_http_request_duration_seconds",
    "Seconds from a request reaching Django to its response, by route, method and status.",
    ["route", "method", "status"],
)
# Labels come from a bounded set: the route pattern (not the path, which
# holds ids) and the standard methods, so a client cannot grow the series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetricsMiddleware:
    """Observe each request's duration in REQUEST_SECONDS (an mmap write, microseconds)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        REQUEST_SECONDS.labels(
            route=f"/{match.route}" if match is not None else "unmatched",
            method=request.method if request.method in METHODS else "other",
            status=str(response.status_code),
        ).observe(time.perf_counter() - started)
        return response
