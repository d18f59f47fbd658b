"""The v1 API's request side: who is calling (token or client id), with what parameters.

Tokens arrive as Instagram's API v1 took them: the `access_token` query
parameter, a form body's `access_token`, or an `Authorization: Bearer`
header. Errors use v1's types.
"""

import hashlib
import json
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from instagram.errors import (
    APIInvalidParametersError,
    OAuthAccessTokenException,
    OAuthClientException,
    OAuthParameterException,
    OAuthPermissionsException,
    allow_methods,
)
from instagram.signing import check_signed_request
from oauth.cache import access_token as cached_access_token
from oauth.selectors import authenticate_client
from ratelimits.limiter import Limits, check_rate_limit, client_address, default_limits
from users.models import User


class APIRequest(HttpRequest):
    """The request a token-guarded view (api_endpoint) receives: the token and the user it names."""

    access_token: AccessToken
    api_user: User


class PublicAPIRequest(HttpRequest):
    """The request a `public=True` view receives: a token and its user, or an app's client_id and nobody."""

    access_token: AccessToken | None
    api_user: User | None
    api_client: Application  # set only when access_token is None


class ClientRequest(HttpRequest):
    """The request a client_endpoint view receives: the app calling as itself."""

    api_client: Application


def client_limits(application: Application) -> Limits:
    """Return the hourly limits of `application`: its own (ratelimits admin), else the defaults."""
    try:
        own = application.limit
    except ObjectDoesNotExist:
        return default_limits()
    return Limits(requests_per_hour=own.requests_per_hour, writes_per_hour=own.writes_per_hour)


FORM = "application/x-www-form-urlencoded"
# Parameters about the request itself, never a view's input.
TRANSPORT_PARAMS = frozenset({"access_token", "sig", "_method", "callback"})


def form_body(request: HttpRequest) -> QueryDict:
    """The request's form-encoded body, for a DELETE as for a POST (Django parses only POST's)."""
    if request.content_type != FORM:
        return QueryDict()
    if request.method == "POST" or hasattr(request, "_post"):
        return request.POST  # a POST, or a DELETE that came as POST with _method (already parsed)
    cached: QueryDict | None = getattr(request, "v1_form", None)
    if cached is None:
        cached = QueryDict(request.body, encoding=request.encoding)
        request.v1_form = cached  # type: ignore[attr-defined]
    return cached


def token_from(request: HttpRequest) -> str | None:
    """The access token: a Bearer header, the query string, or a form body (v1's curl examples post it)."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip() or None
    return request.GET.get("access_token") or form_body(request).get("access_token") or None


def access_token_for(raw: str) -> AccessToken:
    """Return the live AccessToken for `raw`, or raise OAuthAccessTokenException."""
    # memcached first (oauth.cache: invalidated on every app server by each change).
    token = cached_access_token(hashlib.sha256(raw.encode()).hexdigest())
    if token is None or token.user is None or not token.user.is_active or token.expires <= timezone.now():
        raise OAuthAccessTokenException("The access_token provided is invalid.")
    return token


def params(request: HttpRequest) -> dict[str, str]:
    """Return the request's parameters: a JSON object body, or form fields, or the query string.

    Every value is text, as in a form: a JSON number or boolean is read as it
    prints in JSON, null as absent. Raise on a nested JSON value, and on a NUL
    character (PostgreSQL text cannot hold one).
    """
    if request.method == "GET":
        values = {k: str(v) for k, v in request.GET.items() if k not in TRANSPORT_PARAMS}
    elif request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        # RecursionError: a body of 100,000 nested arrays exhausts the parser's stack.
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise APIInvalidParametersError("The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise APIInvalidParametersError("The request body must be a JSON object.")
        values = {str(k): _json_text(str(k), v) for k, v in body.items()}
    else:
        form = request.POST if request.method == "POST" else form_body(request)
        # A body's access_token may be a view's own field (a linked Twitter
        # account's token): only the query string's is always the caller's.
        values = {k: str(v) for k, v in form.items() if k not in TRANSPORT_PARAMS - {"access_token"}}
    for name, value in values.items():
        if "\x00" in name or "\x00" in value:
            raise APIInvalidParametersError("Parameters must not contain NUL characters.")
    return values


def _json_text(name: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    if not isinstance(value, str):
        raise APIInvalidParametersError(f"{name} must be a string, a number or a boolean.")
    return value


def next_url(request: HttpRequest, **changes: str) -> str:
    """Return the absolute URL of the next page: this request's URL and parameters, with `changes`.

    The token travels along when it came as a query parameter, so a client
    can fetch the URL as it is.
    """
    query = request.GET.copy()
    for name, value in changes.items():
        query[name] = value
    return f"{public_base_url(request)}{request.path}?{query.urlencode()}"


def public_base_url(request: HttpRequest) -> str:
    """Return the API's public base URL in the scheme `request` came in (nginx's X-Forwarded-Proto)."""
    base = settings.PUBLIC_TLS_BASE_URL if request.is_secure() else settings.PUBLIC_BASE_URL
    return base.rstrip("/")


def require_scope(request: HttpRequest, scope: str) -> None:
    """Raise OAuthPermissionsException unless the token api_endpoint found carries `scope`."""
    token = cast(PublicAPIRequest, request).access_token
    if token is None or not token.allow_scopes([scope]):
        raise OAuthPermissionsException(f"This request requires scope={scope}.")


def require_first_party(request: HttpRequest) -> None:
    """Raise OAuthPermissionsException unless the request's token was issued to the mobile app.

    v1 never opened the account's own management (profile edit, uploads,
    deletes, devices, linked accounts, authorized apps) to third-party apps,
    whatever scope the user granted them.
    """
    token = cast(PublicAPIRequest, request).access_token
    if token is None or token.application.client_id != settings.MOBILE_CLIENT_ID:
        raise OAuthPermissionsException("This endpoint is only available to the Instagram app.")


View = TypeVar("View", bound=Callable[..., HttpResponse])


def application_for_client_id(request: HttpRequest) -> Application | None:
    """The app a token-less read names with `client_id`: None when it names none; raise for an unknown one."""
    client_id = request.GET.get("client_id", "").strip()
    if not client_id:
        return None
    if len(client_id) > 100:
        raise OAuthClientException("The client_id is not a registered app.")
    application = Application.objects.select_related("limit", "policy").filter(client_id=client_id).first()
    if application is None:
        raise OAuthClientException("The client_id is not a registered app.")
    return application


def api_endpoint(
    *, methods: tuple[str, ...], scope: str | None = "basic", first_party: bool = False, public: bool = False
) -> Callable[[View], View]:
    """Guard a v1 view: allowed methods, then a valid token carrying `scope`.

    scope=None: no token needed (sign-up, log-in). first_party: only the
    mobile app's tokens (require_first_party). public: a GET may come with
    an app's `client_id` instead of a token, as v1's public reads did; it
    reads as nobody (`request.api_user` is None: public accounts only),
    rate-limited per app. The view finds the token in `request.access_token`
    and the caller in `request.api_user`.
    """

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if scope is None:
                check_rate_limit(request, caller=f"ip:{client_address(request)}", limits=default_limits())
            else:
                raw = token_from(request)
                application = (
                    application_for_client_id(request)
                    if raw is None and public and request.method in ("GET", "HEAD")
                    else None
                )
                if application is not None:
                    anonymous = cast(PublicAPIRequest, request)  # what the view will find on it
                    anonymous.access_token = None
                    anonymous.api_user = None
                    anonymous.api_client = application
                    caller = f"client:{application.id}"
                    check_rate_limit(request, caller=caller, limits=client_limits(application))
                    check_signed_request(request, application, form_body(request))
                    return view(request, *args, **kwargs)
                if raw is None:
                    raise OAuthParameterException(
                        "Missing access_token (query parameter, form field or Bearer header)"
                        + (", or client_id for this public read." if public else ".")
                    )
                token = access_token_for(raw)
                guarded = cast(APIRequest, request)  # what the view will find on it
                guarded.access_token = token
                guarded.api_user = token.user
                check_rate_limit(
                    request,
                    caller=f"token:{token.id}",
                    limits=client_limits(token.application),
                    user_id=token.user_id,
                )
                check_signed_request(request, token.application, form_body(request))
                require_scope(guarded, scope)
                if first_party:
                    require_first_party(guarded)
            return view(request, *args, **kwargs)

        return allow_methods(*methods)(wrapper)  # type: ignore[return-value]

    return decorate


def client_params(request: HttpRequest) -> dict[str, str]:
    """Return the parameters of a request an app makes as itself: the query string, and over it the body.

    v1 took client credentials in either place: a DELETE sends them in the
    query string, a POST in its form.
    """
    values = {str(k): str(v) for k, v in request.GET.items()}
    if any("\x00" in name or "\x00" in value for name, value in values.items()):
        raise APIInvalidParametersError("Parameters must not contain NUL characters.")
    if request.method not in ("GET", "HEAD"):
        values.update(params(request))
    return values


def client_endpoint(*, methods: tuple[str, ...]) -> Callable[[View], View]:
    """Guard a v1 view an app calls as itself, for no user: allowed methods, then its client credentials.

    client_id and client_secret are parameters (client_params), checked as the
    token endpoint checks them (DOT keeps the secret hashed). Requests are
    rate-limited per app. The view finds the app in `request.api_client`.
    """

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            values = client_params(request)
            client_id, client_secret = values.get("client_id", ""), values.get("client_secret", "")
            if not client_id or not client_secret:
                raise OAuthParameterException(
                    "Missing client_id or client_secret (query or form parameters)."
                )
            application = authenticate_client(client_id=client_id, client_secret=client_secret)
            if application is None:
                raise OAuthClientException("The client_id and client_secret do not match a registered app.")
            cast(ClientRequest, request).api_client = application  # what the view will find on it
            check_rate_limit(request, caller=f"client:{application.id}", limits=client_limits(application))
            check_signed_request(request, application, form_body(request))
            return view(request, *args, **kwargs)

        return allow_methods(*methods)(wrapper)  # type: ignore[return-value]

    return decorate
