"""The OAuth2 request validator: which app may use which v1 flow, exact redirect URIs.

django-oauth-toolkit ties one grant type to each Application. Instagram's
apps were not like that: any web app could use the server-side flow (code)
and the client-side flow (token, unless it disabled implicit OAuth), and a
few trusted apps could also trade a user's password for a token. So:

- An Application registered with `authorization-code` may use
  response_type=code and, unless its ClientPolicy disables implicit OAuth,
  response_type=token. One registered with `implicit` may use only the latter.
- grant_type=password is allowed for an Application whose ClientPolicy says
  `trusted`, and for one registered with DOT's `password` grant type (the
  first-party mobile client, users/migrations/0003).
- redirect_uri must equal a registered URI character for character. DOT also
  lets a loopback URI (http://127.0.0.1/...) come back on any port (RFC 8252);
  v1 did not, and neither do we.

RFC 9700 discourages the implicit and password grants; we keep them because
v1 had them. The COMPLIANT_BCP_RFC9700_* settings still turn them off, but we
consult them without DOT's per-request deprecation warning.
"""

from typing import Any

from oauth2_provider.models import AbstractApplication, Application, Grant
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings
from oauthlib.common import Request

from oauth.models import ClientPolicy
from ratelimits.credentials import check_credential_attempt, credential_failed, credential_succeeded

BASIC_SCOPE = "basic"


def client_policy(application: Application) -> ClientPolicy:
    """Return `application`'s policy, or the defaults when it has none."""
    policy = ClientPolicy.objects.filter(application=application).first()
    return policy or ClientPolicy(application=application)


class V1OAuth2Validator(OAuth2Validator):  # type: ignore[misc]
    def authenticate_client(self, request: Request, *args: Any, **kwargs: Any) -> bool:
        """DOT's check of the client secret (a PBKDF2 hash), behind the credential throttle.

        Counted per address and per client_id before the hash; see
        ratelimits/credentials.py. An unknown client_id is a failure too.
        """
        client_id = str(getattr(request, "client_id", None) or "") or None
        check_credential_attempt(client=client_id)
        authenticated = bool(super().authenticate_client(request, *args, **kwargs))
        if authenticated:
            credential_succeeded(client=client_id)
        else:
            credential_failed(client=client_id)
        return authenticated

    def validate_response_type(
        self,
        client_id: str,
        response_type: str,
        client: Application,
        request: Request,
        *args: Any,
        **kwargs: Any,
    ) -> bool:
        grant_type = client.authorization_grant_type
        if response_type == "code":
            return bool(grant_type == AbstractApplication.GRANT_AUTHORIZATION_CODE)
        if response_type == "token":
            if oauth2_settings.COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT:
                return False
            if grant_type == AbstractApplication.GRANT_IMPLICIT:
                return True
            return bool(
                grant_type == AbstractApplication.GRANT_AUTHORIZATION_CODE
                and not client_policy(client).implicit_disabled
            )
        return False

    def validate_grant_type(
        self,
        client_id: str,
        grant_type: str,
        client: Application,
        request: Request,
        *args: Any,
        **kwargs: Any,
    ) -> bool:
        registered = client.authorization_grant_type
        if grant_type == "authorization_code":
            return bool(registered == AbstractApplication.GRANT_AUTHORIZATION_CODE)
        if grant_type == "password":
            if oauth2_settings.COMPLIANT_BCP_RFC9700_PASSWORD_GRANT:
                return False
            return registered == AbstractApplication.GRANT_PASSWORD or client_policy(client).trusted
        return False

    def validate_code(
        self, client_id: str, code: str, client: Application, request: Request, *args: Any, **kwargs: Any
    ) -> bool:
        """Lock the code's Grant row, then check it as DOT does.

        Runs inside the token request's transaction (oauth.actions.check_issue_token).
        Exchanges racing with one code wait here until the first commits, then
        find the code gone: without the lock, DOT's later look-ups of a grant
        deleted meanwhile (code challenge, redirect_uri) raise DoesNotExist.
        """
        list(
            Grant.objects.select_for_update()
            .filter(code=code, application=client)
            .values_list("pk", flat=True)
        )
        return bool(super().validate_code(client_id, code, client, request, *args, **kwargs))

    def validate_redirect_uri(
        self, client_id: str, redirect_uri: str, request: Request, *args: Any, **kwargs: Any
    ) -> bool:
        return redirect_uri in request.client.redirect_uris.split()

    def validate_scopes(
        self,
        client_id: str,
        scopes: list[str],
        client: Application,
        request: Request,
        *args: Any,
        **kwargs: Any,
    ) -> bool:
        """Check the scopes, then add `basic`: v1 granted it with every authorization."""
        if not super().validate_scopes(client_id, scopes, client, request, *args, **kwargs):
            return False
        if BASIC_SCOPE not in scopes:
            request.scopes = [BASIC_SCOPE, *scopes]
        return True
