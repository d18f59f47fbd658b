"""Writes of the OAuth provider: grants and tokens (through oauthlib), client registration."""

import json
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from oauth2_provider.exceptions import FatalClientError, OAuthToolkitError
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import AbstractApplication, AccessToken, Application, Grant, RefreshToken
from oauth2_provider.oauth2_backends import get_oauthlib_core
from oauthlib.common import add_params_to_uri
from oauthlib.oauth2.rfc6749 import errors as oauth_errors

from instagram.crypto import encrypt
from instagram.errors import APINotFoundError
from oauth.errors import AuthorizationError, AuthorizationRedirectError, OAuthException
from oauth.models import ClientPolicy
from oauth.selectors import AuthorizationRequest, application_exists, issued_token
from users.models import User

GRANT_TYPES = ("authorization_code", "password")
# Parameters each grant type needs besides client_id, client_secret and grant_type.
GRANT_PARAMETERS = {"authorization_code": ("redirect_uri", "code"), "password": ("username", "password")}
# v1's answer at the redirect_uri when the user clicks Deny.
DENIAL = {
    "error": "access_denied",
    "error_reason": "user_denied",
    "error_description": "The user denied your request.",
}


def client_redirect_url(*, redirect_uri: str, response_type: str, params: list[tuple[str, str]]) -> str:
    """Return `redirect_uri` carrying `params`: in the fragment for the client-side flow, else the query."""
    return str(add_params_to_uri(redirect_uri, params, fragment=response_type == "token"))


def do_approve_authorization(*, request: HttpRequest, authorization: AuthorizationRequest) -> str:
    """Grant `request.user`'s approval: store a code (or, client-side flow, a token); return where to go.

    oauthlib validates the request again before it writes anything.
    """
    try:
        with transaction.atomic(using="default"):
            uri, _headers, _body, _status = get_oauthlib_core().create_authorization_response(
                request, authorization.scopes, dict(authorization.credentials), allow=True
            )
    except FatalClientError as exc:
        raise AuthorizationError(str(exc.oauthlib_error.description)) from None
    except OAuthToolkitError as exc:
        error = exc.oauthlib_error
        raise AuthorizationRedirectError(
            redirect_uri=authorization.redirect_uri,
            response_type=authorization.response_type,
            params=dict(error.twotuples),
        ) from None
    return str(uri)


def deny_authorization(*, authorization: AuthorizationRequest) -> str:
    """Return the redirect that tells the client the user said no, with v1's parameters."""
    params = list(DENIAL.items())
    if "state" in authorization.credentials:
        params.append(("state", authorization.credentials["state"]))
    return client_redirect_url(
        redirect_uri=authorization.redirect_uri, response_type=authorization.response_type, params=params
    )


@dataclass(frozen=True)
class IssuedToken:
    raw: str
    token: AccessToken

    @property
    def user(self) -> User:
        user: User = self.token.user
        return user


def check_token_request(params: dict[str, str]) -> str:
    """Return the grant type of a token request, or raise naming the first missing parameter."""
    if any("\x00" in name or "\x00" in value for name, value in params.items()):
        # PostgreSQL text cannot hold one: refuse it before oauthlib looks anything up.
        raise OAuthException("Parameters must not contain NUL characters.")
    for name in ("client_id", "client_secret", "grant_type"):
        if not params.get(name, "").strip():
            raise OAuthException(f"You must provide a {name}")
    grant_type = params["grant_type"]
    for name in GRANT_PARAMETERS.get(grant_type, ()):
        if not params.get(name, "").strip():
            raise OAuthException(f"You must provide a {name}")
    return grant_type


def token_error_message(*, error: str, description: str, grant_type: str, client_id: str) -> str:
    """Return v1's wording for an oauthlib token-endpoint error."""
    if error == "invalid_client":
        if not application_exists(client_id=client_id):
            return f"Invalid client_id: no app is registered as {client_id}."
        return "Invalid client_secret for this client_id."
    if error == "unsupported_grant_type":
        return f"Unsupported grant_type {grant_type!r}: use authorization_code or password."
    if error == "unauthorized_client":
        return f"This app may not use grant_type={grant_type}."
    if error == "invalid_grant":
        if grant_type == "password":
            return "The username or password is incorrect."
        return "Matching code was not found or was already used."
    if error == "invalid_request" and description == oauth_errors.MismatchingRedirectURIError.description:
        return "Redirect URI doesn't match original redirect URI"
    if error == "invalid_scope":
        return "Invalid scope: use basic, comments, relationships or likes, separated by spaces."
    return description or error


def check_issue_token(*, request: HttpRequest) -> IssuedToken:
    """Trade a code or a trusted app's user password for an access token, or raise OAuthException.

    oauthlib runs the grant; its token row and the code's deletion share one
    transaction, which is rolled back when it answers an error: of two
    requests racing with one code, the second finds the code gone and leaves
    no token behind.
    """
    params = {key: str(value) for key, value in request.POST.items()}
    grant_type = check_token_request(params)
    with transaction.atomic(using="default"):
        _uri, _headers, body, status = get_oauthlib_core().create_token_response(request)
        answer = json.loads(body)
        if status != 200:
            transaction.set_rollback(True, using="default")
    if status != 200:
        raise OAuthException(
            token_error_message(
                error=str(answer.get("error", "")),
                description=str(answer.get("error_description", "")),
                grant_type=grant_type,
                client_id=params["client_id"],
            )
        )
    raw = str(answer["access_token"])
    return IssuedToken(raw=raw, token=issued_token(raw))


def check_register_client(
    *,
    name: str,
    redirect_uri: str,
    trusted: bool = False,
    enforce_signed_requests: bool = False,
    owner: User | None = None,
) -> tuple[Application, str]:
    """Register a confidential web app for the code and implicit flows; return it and its secret.

    The secret is returned in clear only here: DOT stores a hash of it.
    Raise ValidationError naming the problem (a bad redirect URI, say).
    """
    if len(redirect_uri.split()) != 1:
        raise ValidationError({"redirect_uris": ["Register exactly one redirect URI."]})
    secret = generate_client_secret()
    application = Application(
        name=name,
        user=owner,
        redirect_uris=redirect_uri,
        client_type=AbstractApplication.CLIENT_CONFIDENTIAL,
        authorization_grant_type=AbstractApplication.GRANT_AUTHORIZATION_CODE,
        client_secret=secret,
    )
    application.full_clean(exclude=["client_id", "client_secret"])
    with transaction.atomic(using="default"):
        application.save(using="default")
        ClientPolicy.objects.using("default").create(
            application=application,
            trusted=trusted,
            enforce_signed_requests=enforce_signed_requests,
            signing_secret=encrypt(secret),
        )
    return application, secret


def check_revoke_app(*, user: User, client_id: str) -> int:
    """Revoke everything `client_id`'s app holds for `user`: access and refresh tokens, pending codes.

    Return how many tokens went; raise APINotFoundError when the app holds
    none (or is the mobile app, which is revoked by logging out). Deleting
    the tokens bumps their user's version in the token cache (oauth/cache.py)
    on commit, so the app's next call already fails on every app server.
    """
    if client_id == settings.MOBILE_CLIENT_ID:
        raise APINotFoundError("The Instagram app is not a third-party app: log out instead.")
    with transaction.atomic(using="default"):
        tokens = AccessToken.objects.using("default").filter(user=user, application__client_id=client_id)
        count: int = tokens.count()
        if count == 0:
            raise APINotFoundError(f"No authorized app with client_id {client_id[:100]}.")
        RefreshToken.objects.using("default").filter(user=user, application__client_id=client_id).delete()
        Grant.objects.using("default").filter(user=user, application__client_id=client_id).delete()
        tokens.delete()
    return count
