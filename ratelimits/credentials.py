"""Throttling of credential checks: passwords and client secrets, counted before any hash is computed.

A password or a client secret is checked with PBKDF2 (about half a second of
CPU each), so guessing is slow per attempt but cheap to ask for: without a
limit, one address keeps app servers busy hashing and tries passwords as fast
as they answer. Every check passes through here first:

- user passwords (the mobile log-in, the OAuth password grant, the OAuth
  log-in page, the admin's log-in page): `ThrottledModelBackend`, the one
  authentication backend, so no path can forget it;
- client secrets (/oauth/access_token, client-credential calls): the OAuth2
  validator's authenticate_client.

Each attempt is first checked against the failures counted for its address
and its account (a username, or a client_id): at a limit, it is refused with
a 429 and a Retry-After, and no hash is computed. A failure then counts
against both, in fixed windows (CREDENTIAL_WINDOW_SECONDS) from the first;
a success clears the account's. Only failures count, so a busy app server
exchanging many codes at once is never held back. Failures racing each
other may pass a limit by as many as run at the same moment, no more. A name that belongs to no one is
counted the same way, so the answers never tell whether an account exists.

An attacker with many addresses can still hold one account's limit, but only
for the window after their last failures: the account is never locked for
good, and the limit counts failures only. An app's counter is per address
too, so no one can hold an app's own server out of the token endpoint. The
address limit is shared by every kind of credential, so spraying one
password over many accounts from one address meets it.
"""

import contextvars
import logging
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from instagram.errors import APIError
from instagram.redis_client import redis_primary

logger = logging.getLogger(__name__)

# The caller's address for this request, set by the request-log middleware:
# credentials are checked deep inside Django's and oauthlib's code, which do
# not always pass the HttpRequest along.
address_var: contextvars.ContextVar[str] = contextvars.ContextVar("credential_address", default="unknown")

# KEYS: counters; ARGV: each counter's limit. Answers the longest time left
# on a counter at its limit (0: none is).
_CHECK = """
local wait = 0
for i = 1, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') >= tonumber(ARGV[i]) then
    local ttl = redis.call('TTL', KEYS[i])
    if ttl > wait then wait = ttl end
  end
end
return wait
"""

# KEYS: counters; ARGV[1]: the window. A counter's window starts at its first failure.
_FAILED = """
for i = 1, #KEYS do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], ARGV[1]) end
end
return 1
"""


class CredentialsThrottled(APIError):
    status = 429
    error_type = "OAuthRateLimitException"


@dataclass(frozen=True)
class Counter:
    kind: str  # address, account, client
    key: str
    limit: int

    @property
    def redis_key(self) -> str:
        return f"cred:{self.kind}:{self.key}"


def _counters(*, account: str | None, client: str | None) -> list[Counter]:
    counters = [Counter("address", address_var.get(), settings.CREDENTIAL_FAILURES_PER_ADDRESS)]
    if account is not None:
        counters.append(
            Counter("account", account.strip().lower()[:200], settings.CREDENTIAL_FAILURES_PER_ACCOUNT)
        )
    if client is not None:
        # Per app and address: a client secret (128 random characters) is not
        # guessed, so this bounds the hashing, and nobody can lock an app's
        # own server out of the token endpoint by failing in its name.
        key = f"{client.strip()[:200]}:{address_var.get()}"
        counters.append(Counter("client", key, settings.CREDENTIAL_FAILURES_PER_CLIENT))
    return counters


def check_credential_attempt(*, account: str | None = None, client: str | None = None) -> None:
    """Raise CredentialsThrottled if this address, `account` or `client` is at its failure limit.

    Call before the hash; then `credential_failed` or `credential_succeeded`.
    When Redis cannot be reached the check lets the attempt through (as the
    rate limit does): the hash's own cost still bounds the rate.
    """
    counters = _counters(account=account, client=client)
    try:
        wait = int(
            redis_primary().eval(
                _CHECK, len(counters), *(c.redis_key for c in counters), *(c.limit for c in counters)
            )
        )
    except redis.RedisError as exc:
        logger.warning("credential attempts not checked, Redis unreachable: %s", exc)
        return
    if wait > 0:
        what = "this account" if account is not None else "this app" if client is not None else "it"
        raise CredentialsThrottled(
            f"Too many failed attempts from this address or for {what}: try again in {wait} seconds.",
            headers={"Retry-After": str(wait)},
        )


def credential_failed(*, account: str | None = None, client: str | None = None) -> None:
    """Count a failed check against this address and `account` or `client`."""
    keys = [c.redis_key for c in _counters(account=account, client=client)]
    try:
        redis_primary().eval(_FAILED, len(keys), *keys, settings.CREDENTIAL_WINDOW_SECONDS)
    except redis.RedisError as exc:
        logger.warning("credential failure not counted, Redis unreachable: %s", exc)


def credential_succeeded(*, account: str | None = None, client: str | None = None) -> None:
    """Clear the failures of `account` or `client` (the address keeps its own)."""
    keys = [c.redis_key for c in _counters(account=account, client=client) if c.kind != "address"]
    if not keys:
        return
    try:
        redis_primary().delete(*keys)
    except redis.RedisError as exc:
        logger.warning("credential success not recorded, Redis unreachable: %s", exc)


def remember_address(request: HttpRequest) -> None:
    """Note the caller's address for the credential checks this request may make."""
    from ratelimits.limiter import client_address

    address_var.set(client_address(request))


class ThrottledModelBackend(ModelBackend):
    """Django's username/password backend, behind the credential throttle."""

    def authenticate(
        self, request: Any, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> Any:
        if username is None:
            username = kwargs.get("username")
        if username is None or password is None:
            return None
        check_credential_attempt(account=username)
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            credential_failed(account=username)
        else:
            credential_succeeded(account=username)
        return user
