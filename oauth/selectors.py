"""Reads for the OAuth pages: the authorization request, scopes, the token's user, authorized apps."""

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.exceptions import FatalClientError, OAuthToolkitError
from oauth2_provider.models import AccessToken, Application
from oauth2_provider.oauth2_backends import get_oauthlib_core
from oauth2_provider.scopes import get_scopes_backend
from oauth2_provider.settings import oauth2_settings
from oauthlib.common import Request as OAuthRequest
from oauthlib.oauth2.rfc6749 import errors as oauth_errors

from oauth.errors import AuthorizationError, AuthorizationRedirectError
from photos.storage import profile_picture_url
from users.models import User

# The authorization parameters a consent form carries back, in this order.
CREDENTIAL_FIELDS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "state",
    "code_challenge",
    "code_challenge_method",
)


@dataclass(frozen=True)
class AuthorizationRequest:
    """An authorization request oauthlib found valid: the app, its redirect_uri checked."""

    application: Application
    scopes: list[str]
    credentials: dict[str, str]

    @property
    def response_type(self) -> str:
        return self.credentials["response_type"]

    @property
    def redirect_uri(self) -> str:
        return self.credentials["redirect_uri"]

    @property
    def form_fields(self) -> list[tuple[str, str]]:
        """Return the hidden fields of the consent form, which POSTs the request back."""
        return [*self.credentials.items(), ("scope", " ".join(self.scopes))]

    @property
    def page_url(self) -> str:
        """Return the URL of this request's authorization page (where log-in sends the user back)."""
        return f"{reverse('oauth-authorize')}?{urlencode(self.form_fields)}"


def _fatal_message(error: oauth_errors.OAuth2Error, client_id: str) -> str:
    if isinstance(error, oauth_errors.MissingClientIdError):
        return "The request has no client_id."
    if isinstance(error, oauth_errors.InvalidClientIdError):
        return f"No app is registered with client_id {client_id}."
    if isinstance(error, oauth_errors.MismatchingRedirectURIError):
        return "The redirect_uri does not match the redirect URI registered for this app."
    if isinstance(error, oauth_errors.MissingRedirectURIError):
        return "The request has no redirect_uri."
    if isinstance(error, oauth_errors.InvalidRedirectURIError):
        return "The redirect_uri is not an absolute URI."
    return str(error.description or error.error)


def access_authorization_request(*, request: HttpRequest) -> AuthorizationRequest:
    """Validate the authorization request in `request` (query string, or the consent form's POST).

    Raise AuthorizationError when it must not redirect anywhere (unknown client,
    a redirect_uri other than the registered one), AuthorizationRedirectError
    when the client is to be told at its redirect_uri.
    """
    params = request.POST if request.method == "POST" else request.GET
    if any("\x00" in name or "\x00" in value for name, value in params.items()):
        # PostgreSQL text cannot hold one: refuse it before oauthlib looks the client up.
        raise AuthorizationError("The request's parameters must not contain NUL characters.")
    try:
        scopes, found = get_oauthlib_core().validate_authorization_request(request)
    except FatalClientError as exc:
        raise AuthorizationError(_fatal_message(exc.oauthlib_error, params.get("client_id", ""))) from None
    except OAuthToolkitError as exc:
        error = exc.oauthlib_error
        raise AuthorizationRedirectError(
            redirect_uri=error.redirect_uri,
            response_type=params.get("response_type", ""),
            params=dict(error.twotuples),
        ) from None
    credentials = {name: str(found[name]) for name in CREDENTIAL_FIELDS if found.get(name)}
    application = found["request"].client
    return AuthorizationRequest(application=application, scopes=list(scopes), credentials=credentials)


def scope_descriptions(scopes: list[str]) -> list[tuple[str, str]]:
    """Return each scope with the sentence the consent page shows for it."""
    described: dict[str, str] = get_scopes_backend().get_all_scopes()
    return [(scope, described.get(scope, scope)) for scope in scopes]


def redirect_host(uri: str) -> str:
    return urlsplit(uri).netloc or uri


def application_exists(*, client_id: str) -> bool:
    exists: bool = Application.objects.filter(client_id=client_id).exists()
    return exists


def authenticate_client(*, client_id: str, client_secret: str) -> Application | None:
    """Return the app `client_id` names if `client_secret` is its secret, else None.

    The token endpoint's own check (the OAuth2 validator's, through oauthlib):
    DOT stores the secret hashed, so this costs one password hash.
    """
    credentials = OAuthRequest(
        "", http_method="POST", body={"client_id": client_id, "client_secret": client_secret}
    )
    if not oauth2_settings.OAUTH2_VALIDATOR_CLASS().authenticate_client(credentials):
        return None
    application: Application = credentials.client
    return application


def issued_token(raw: str) -> AccessToken:
    """Return the AccessToken oauthlib has just stored for `raw` (looked up by checksum, as the API does)."""
    checksum = hashlib.sha256(raw.encode()).hexdigest()
    token: AccessToken = AccessToken.objects.select_related("user").get(token_checksum=checksum)
    return token


def token_user_object(user: User) -> dict[str, Any]:
    """Return the user as v1's /oauth/access_token described it (ids as strings)."""
    return {
        "id": str(user.id),
        "username": user.username,
        "full_name": user.full_name,
        "profile_picture": profile_picture_url(user.profile_picture),
    }


@dataclass(frozen=True)
class AuthorizedApp:
    """A third-party app holding live tokens for a user, as the user sees it."""

    application: Application
    scopes: list[str]
    first_authorized: datetime
    last_used: datetime

    def as_v1(self) -> dict[str, Any]:
        return {
            "client_id": str(self.application.client_id),
            "name": str(self.application.name),
            "website": redirect_host(str(self.application.redirect_uris).split()[0])
            if self.application.redirect_uris
            else "",
            "scopes": self.scopes,
            "first_authorized": str(int(self.first_authorized.timestamp())),
            "last_used": str(int(self.last_used.timestamp())),
        }


def authorized_apps_of(user: User) -> list[AuthorizedApp]:
    """The apps other than the mobile app that hold unexpired tokens for `user`, most recently used first.

    A token's `updated` is its last write (issue or refresh): v1 showed when
    an app was authorized, which this is at least.
    """
    tokens = (
        AccessToken.objects.filter(user=user, expires__gt=timezone.now())
        .exclude(application__client_id=settings.MOBILE_CLIENT_ID)
        .select_related("application")
        .order_by("application_id", "created")
    )
    found: dict[int, AuthorizedApp] = {}
    for token in tokens:
        app = found.get(token.application_id)
        scopes = token.scope.split()
        if app is None:
            found[token.application_id] = AuthorizedApp(
                application=token.application,
                scopes=scopes,
                first_authorized=token.created,
                last_used=token.updated,
            )
        else:
            found[token.application_id] = AuthorizedApp(
                application=app.application,
                scopes=sorted(set(app.scopes) | set(scopes), key=_scope_order),
                first_authorized=min(app.first_authorized, token.created),
                last_used=max(app.last_used, token.updated),
            )
    return sorted(found.values(), key=lambda app: app.last_used, reverse=True)


def _scope_order(scope: str) -> int:
    order = list(settings.API_SCOPES)
    return order.index(scope) if scope in order else len(order)
