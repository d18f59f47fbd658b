"""The v1 request forms clients of the era sent, brought to the one form the views read.

Instagram's API v1 took more on the request side than a route table shows,
and its client libraries relied on it (python-instagram appends `.json` to
every path; browser widgets asked for JSONP; forms without DELETE used
`_method`):

- a `.json` format suffix on any path: `/v1/users/self/feed.json`;
- a trailing slash on any path, as the documentation's own examples wrote
  them (`/v1/users/1574083/?access_token=...`, `/v1/subscriptions/`);
- `_method=DELETE` on a POST (query string or form) acts as a DELETE;
- `callback=name` on a GET wraps the envelope as JavaScript: `name({...})`.

The views never see the difference: the suffix or slash is gone from `request.path`,
the method is DELETE. The path as the client sent it stays in
`request.v1_sent_path` (signed requests sign it).
"""

import json
import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from instagram.errors import as_api_error, error_envelope, render_api_error

V1_PREFIX = "/v1/"
SUFFIX = ".json"
# A JavaScript identifier or a dotted path of them (`jQuery1_2.cb`), nothing
# that could close the call and add code; bounded so no one sends a novel.
CALLBACK = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]{0,63}(?:\.[A-Za-z_$][A-Za-z0-9_$]{0,63}){0,4}")
FORM = "application/x-www-form-urlencoded"


def strip_format_suffix(request: HttpRequest) -> None:
    """Drop a trailing slash or a `.json` suffix from a /v1 path (not from the OpenAPI spec's)."""
    request.v1_sent_path = request.path  # type: ignore[attr-defined]
    if request.path.endswith("/") and len(request.path) > len(V1_PREFIX) and not request.path.endswith("//"):
        request.path = request.path[:-1]
        request.path_info = request.path_info.removesuffix("/")
        return
    if not request.path.endswith(SUFFIX) or request.path == reverse("openapi"):
        return
    stripped = request.path.removesuffix(SUFFIX)
    if stripped.endswith("/") or stripped == V1_PREFIX.rstrip("/"):
        return  # `/v1/.json` or `/v1/users/.json` name nothing
    request.path = stripped
    request.path_info = request.path_info.removesuffix(SUFFIX)


def method_override(request: HttpRequest) -> None:
    """Turn a POST carrying `_method=DELETE` (query string or form) into the DELETE it stands for."""
    if request.method != "POST":
        return
    wanted = request.GET.get("_method", "")
    if not wanted and request.content_type == FORM:
        wanted = request.POST.get("_method", "")  # parsed now, while the method is still POST
    if wanted.upper() == "DELETE":
        request.POST  # noqa: B018 - the form is parsed only while the method reads POST
        request.method = "DELETE"


def as_jsonp(response: HttpResponse, callback: str) -> HttpResponse:
    """Wrap a JSON envelope in `callback(...)`.

    Always 200: a browser runs a <script> only when its status is OK, so an
    error reaches the page's callback only this way; the envelope's
    meta.code keeps the real status, as v1's did.
    """
    body = response.content.decode()
    json.loads(body)  # only ever wrap JSON
    wrapped = HttpResponse(
        f"/**/{callback}({body});", content_type="application/javascript; charset=utf-8", status=200
    )
    for name, value in response.items():
        if name.lower() not in ("content-type", "content-length"):
            wrapped[name] = value
    wrapped["X-Content-Type-Options"] = "nosniff"
    return wrapped


class V1RequestMiddleware:
    """Accept the format suffix, `_method` and JSONP on /v1 (see the module's docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(V1_PREFIX):
            return self.get_response(request)
        strip_format_suffix(request)
        callback = request.GET.get("callback") if request.method in ("GET", "HEAD") else None
        if callback is not None and not CALLBACK.fullmatch(callback):
            return error_envelope(
                status=400,
                error_type="APIInvalidParametersError",
                message="callback must be a JavaScript function name (letters, digits, _ and $, dotted).",
            )
        try:
            method_override(request)  # reads the form: too large or malformed is the client's error
        except Exception as exc:
            error = as_api_error(exc)
            if error is None:
                raise
            return render_api_error(error)
        response = self.get_response(request)
        if callback is None or not response.get("Content-Type", "").startswith("application/json"):
            return response
        return as_jsonp(response, callback)
