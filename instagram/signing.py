"""Signed requests: v1's proof that a call comes from the app that holds the client secret.

An app that enforces signed requests (its ClientPolicy) has every call
checked, so a token stolen from a phone is useless without the secret kept on
the app's server. Two forms, as v1 took them:

- `sig`: hex HMAC-SHA256, keyed by the client secret, of the endpoint (the
  path after /v1, as sent: `/media/657988443280050001_25025320`, or
  `/users/self/feed.json` from a client that adds the suffix) followed by
  `|name=value` for every parameter but sig, sorted by name:
  `/media/657_25|access_token=...|count=10`.
- `X-Insta-Forwarded-For: <ip>|<hex HMAC-SHA256 of ip>`, the older header a
  server-side app sent with the end user's address.

Real clients of the era differ in what they sign, and both are accepted:
instagram-node signs every parameter (client_secret too, on client_id calls,
and the form body of a POST); python-instagram signs a POST's query
parameters only (its token), not its form, and sends `sig` twice on a GET
(the last one covers every parameter). A call of an app that does not
enforce signing is not checked: its sig is ignored.
"""

import hashlib
import hmac

from django.http import HttpRequest, QueryDict
from oauth2_provider.models import Application

from instagram.crypto import decrypt
from instagram.errors import APIError

V1_PREFIX = "/v1"


class OAuthForbiddenException(APIError):
    status = 403
    error_type = "OAuthForbiddenException"


def signature(secret: str, endpoint: str, params: dict[str, str]) -> str:
    """Return the hex `sig` of `endpoint` and `params` under `secret`."""
    message = endpoint + "".join(f"|{name}={params[name]}" for name in sorted(params))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def _last_values(values: QueryDict) -> dict[str, str]:
    return {name: str(values[name]) for name in values if name != "sig"}


def check_signed_request(request: HttpRequest, application: Application, form: QueryDict) -> None:
    """Raise OAuthForbiddenException unless the call is signed, when `application` enforces signing."""
    policy = getattr(application, "policy", None)
    if policy is None or not policy.enforce_signed_requests:
        return
    if not policy.signing_secret:
        raise OAuthForbiddenException(
            "Invalid signed-request: this app has no signing secret; its owner must be given a new one."
        )
    secret = decrypt(policy.signing_secret)
    forwarded = request.headers.get("X-Insta-Forwarded-For", "")
    if forwarded:
        address, _, digest = forwarded.rpartition("|")
        expected = hmac.new(secret.encode(), address.encode(), hashlib.sha256).hexdigest()
        if address and hmac.compare_digest(digest.lower(), expected):
            return
        raise OAuthForbiddenException("Invalid signed-request: X-Insta-Forwarded-For does not match.")
    sigs = form.getlist("sig") or request.GET.getlist("sig")
    if not sigs:
        raise OAuthForbiddenException("Invalid signed-request: Missing required parameter 'sig'.")
    sent_path: str = getattr(request, "v1_sent_path", request.path)
    endpoint = sent_path.removeprefix(V1_PREFIX)
    query = _last_values(request.GET)
    candidates = [{**query, **_last_values(form)}, query]
    given = sigs[-1].lower()
    if any(hmac.compare_digest(given, signature(secret, endpoint, params)) for params in candidates):
        return
    raise OAuthForbiddenException("Invalid signed-request: Signature does not match.")
