"""Errors of the OAuth endpoints, flat as v1 rendered them.

v1's /oauth/access_token answered errors without the meta envelope:
`{"code": 400, "error_type": "OAuthException", "error_message": "..."}`.
They are still APIError (one error base class); only the rendering differs.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponse, JsonResponse

from instagram.errors import APIError, as_api_error


class OAuthException(APIError):
    error_type = "OAuthException"


class AuthorizationError(Exception):
    """An authorization request that must not redirect (unknown client, foreign redirect_uri)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AuthorizationRedirectError(Exception):
    """An authorization request refused with an error the client receives at its (validated) redirect_uri."""

    def __init__(self, *, redirect_uri: str, response_type: str, params: dict[str, str]) -> None:
        super().__init__(params.get("error_description") or params["error"])
        self.redirect_uri = redirect_uri
        self.response_type = response_type
        self.params = params


def flat_error(error: APIError) -> JsonResponse:
    body = {"code": error.status, "error_type": error.error_type, "error_message": error.message}
    response = JsonResponse(body, status=error.status)
    for name, value in error.headers.items():
        response[name] = value
    return response


View = TypeVar("View", bound=Callable[..., HttpResponse])


def flat_errors(view: View) -> View:
    """Render any APIError the view (or its method guard) raises in v1's flat OAuth shape.

    So is a body Django cannot read (too large, malformed): see as_api_error.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except Exception as exc:
            error = as_api_error(exc)
            if error is None:
                raise
            return flat_error(error)

    return wrapper  # type: ignore[return-value]
