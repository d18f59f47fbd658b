"""The one error base class domain code raises, and the v1 error envelope.

Instagram's API v1 wrapped every response, errors included, as
`{"meta": {"code": ..., "error_type": ..., "error_message": ...}}`.
"""

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import orjson
import pylibmc
import redis
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.serializers.json import DjangoJSONEncoder
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from gearman.errors import ConnectionError as GearmanConnectionError
from gearman.errors import ServerUnavailable as GearmanServerUnavailable

logger = logging.getLogger(__name__)


class APIError(Exception):
    """An error a client caused or can act on; rendered as a v1 error envelope."""

    status = 400
    error_type = "APIError"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        if status is not None:
            self.status = status
        if error_type is not None:
            self.error_type = error_type


class APINotFoundError(APIError):
    status = 404
    error_type = "APINotFoundError"


class APIMethodNotAllowedError(APIError):
    status = 405
    error_type = "APIMethodNotAllowedError"


class OAuthParameterException(APIError):
    error_type = "OAuthParameterException"


class OAuthAccessTokenException(APIError):
    error_type = "OAuthAccessTokenException"


class OAuthPermissionsException(APIError):
    error_type = "OAuthPermissionsException"


class OAuthClientException(APIError):
    error_type = "OAuthClientException"


class APIInvalidParametersError(APIError):
    error_type = "APIInvalidParametersError"


class APINotAllowedError(APIError):
    error_type = "APINotAllowedError"


class ServiceUnavailableError(APIError):
    """A component the request needs is down: nothing was half-written, the client may retry."""

    status = 503
    error_type = "APIUnavailableError"  # the type nginx answers when no app server is up: one 503 envelope

    def __init__(self, component: str) -> None:
        super().__init__(
            f"{component} is unavailable; try again shortly.",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
        self.component = component


RETRY_AFTER_SECONDS = 5


def unavailable_component(exception: BaseException) -> str | None:
    """Name the component whose connection failure `exception` is, or None when it is not one."""
    if isinstance(exception, redis.ConnectionError | redis.TimeoutError):
        return "Redis"
    if isinstance(exception, pylibmc.Error):
        return "memcached"
    if isinstance(exception, GearmanServerUnavailable | GearmanConnectionError):
        return "The job server (gearmand)"
    if isinstance(exception, OperationalError | InterfaceError):
        return "The database"
    return None


def as_api_error(exception: Exception) -> APIError | None:
    """Return the APIError `exception` is to the client, or None when it is a bug (a 500).

    Besides APIError itself, requests Django cannot read are the client's
    doing: a body over DATA_UPLOAD_MAX_MEMORY_SIZE (413), and a malformed one
    (SuspiciousOperation, a multipart body without a boundary).

    A component's connection failure (Redis, memcached, gearmand, the
    database) is an enveloped 503 naming it, never a traceback; the failure
    is logged at ERROR with its traceback, so operators (and Sentry, through
    its logging integration) still see it.
    """
    if isinstance(exception, APIError):
        return exception
    component = unavailable_component(exception)
    if component is not None:
        logger.error("%s unavailable: %s", component, exception, exc_info=exception)
        return ServiceUnavailableError(component)
    if isinstance(exception, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return APIError(
            f"The request body is too large: at most {limit} bytes of form or JSON data.",
            status=413,
            error_type="APIInvalidParametersError",
        )
    if isinstance(exception, SuspiciousOperation | MultiPartParserError):
        return APIError(str(exception), error_type="APIInvalidParametersError")
    return None


class FastJsonResponse(JsonResponse):
    """A JsonResponse encoded by orjson: ten times the stdlib's speed on a page of media objects.

    The same JSON for what the API sends (UTF-8 rather than \\u escapes,
    no spaces after separators); anything orjson cannot encode itself (a
    lazy string, a Decimal) goes to Django's encoder, as JsonResponse would.
    """

    def __init__(self, data: Any, *, status: int = 200) -> None:
        content = orjson.dumps(data, default=_DJANGO_JSON.default, option=orjson.OPT_NON_STR_KEYS)
        # JsonResponse's own __init__ would encode again with json.dumps: HttpResponse's takes the bytes.
        super(JsonResponse, self).__init__(content=content, status=status, content_type="application/json")


_DJANGO_JSON = DjangoJSONEncoder()


def envelope(data: Any, *, status: int = 200, pagination: dict[str, Any] | None = None) -> JsonResponse:
    """Return `data` wrapped in the v1 success envelope."""
    body: dict[str, Any] = {"meta": {"code": status}, "data": data}
    if pagination is not None:
        body["pagination"] = pagination
    return FastJsonResponse(body, status=status)


def error_envelope(*, status: int, error_type: str, message: str) -> JsonResponse:
    body = {"meta": {"code": status, "error_type": error_type, "error_message": message}}
    return FastJsonResponse(body, status=status)


def render_api_error(error: APIError) -> JsonResponse:
    response = error_envelope(status=error.status, error_type=error.error_type, message=error.message)
    for name, value in error.headers.items():
        response[name] = value
    return response


View = TypeVar("View", bound=Callable[..., HttpResponse])


def allow_methods(*methods: str) -> Callable[[View], View]:
    """Reject other HTTP methods with an enveloped 405 and its Allow header (GET also admits HEAD)."""
    allowed = set(methods) | ({"HEAD"} if "GET" in methods else set())
    allow = ", ".join(sorted(allowed))

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in allowed:
                raise APIMethodNotAllowedError(
                    f"{request.method} is not allowed here; use {', '.join(sorted(methods))}.",
                    headers={"Allow": allow},
                )
            return view(request, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
