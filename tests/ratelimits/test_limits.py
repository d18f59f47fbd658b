"""Hourly rate limits: headers on every response, 429 past the limit, writes limited lower."""

import contextvars
import hashlib
import time
import uuid

import requests
from django.conf import settings
from oauth2_provider.models import AccessToken, Application

from instagram import rediskeys
from instagram.redis_client import redis_primary
from ratelimits.limiter import WINDOW
from ratelimits.models import ClientLimit
from tests.conftest import Stack
from tests.v1 import Account, error, sign_up


def limited_account(stack: Stack, http: requests.Session, *, requests_per_hour: int, writes: int) -> Account:
    """A user of a third-party client that has its own, low limits."""
    account = sign_up(stack.api, http, prefix="limited")
    app = Application.objects.create(
        name=f"limited-{uuid.uuid4().hex[:8]}",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_PASSWORD,
    )
    ClientLimit.objects.create(application=app, requests_per_hour=requests_per_hour, writes_per_hour=writes)
    return account.with_token(scope="basic relationships", application=app)


def usage(response: requests.Response) -> tuple[int, int]:
    return int(response.headers["X-Ratelimit-Limit"]), int(response.headers["X-Ratelimit-Remaining"])


def test_every_response_carries_the_limit(healthy_stack: Stack, http: requests.Session) -> None:
    account = sign_up(healthy_stack.api, http)
    first, second = account.get("users/self"), account.get("users/99999999999")
    assert second.status_code == 404
    limit, remaining = usage(first)
    assert limit == settings.RATE_LIMIT_REQUESTS_PER_HOUR
    assert usage(second) == (limit, remaining - 1)


def test_past_the_hourly_limit_429_on_both_app_servers(healthy_stack: Stack, http: requests.Session) -> None:
    account = limited_account(healthy_stack, http, requests_per_hour=6, writes=6)
    answers = [account.get("users/self") for _ in range(6)]
    assert [usage(a) for a in answers] == [(6, n) for n in (5, 4, 3, 2, 1, 0)]
    assert {a.headers["X-Served-By"] for a in answers} == {"app-1", "app-2"}  # one count for both
    refused = account.get("users/self")
    assert error(refused) == (429, "OAuthRateLimitException")
    assert usage(refused) == (6, 0)
    assert "per hour" in refused.json()["meta"]["error_message"]


def test_writes_have_their_own_lower_limit(healthy_stack: Stack, http: requests.Session) -> None:
    account = limited_account(healthy_stack, http, requests_per_hour=50, writes=2)
    other = sign_up(healthy_stack.api, http)
    assert account.act(other, "follow")["outgoing_status"] == "follows"
    assert account.act(other, "unfollow")["outgoing_status"] == "none"
    refused = account.post(f"users/{other.id}/relationship", action="follow")
    assert error(refused) == (429, "OAuthRateLimitException")
    assert "write requests" in refused.json()["meta"]["error_message"]
    # The refused write changed nothing, and reads still go through.
    assert account.data(f"users/{other.id}/relationship")["outgoing_status"] == "none"


def test_the_previous_hour_still_counts(healthy_stack: Stack, http: requests.Session) -> None:
    account = limited_account(healthy_stack, http, requests_per_hour=10, writes=10)
    token_id = AccessToken.objects.get(token_checksum=hashlib.sha256(account.token.encode()).hexdigest()).id
    previous_hour = int(time.time() // WINDOW) - 1
    # 100 000 requests in the previous hour: still over 10 for all but its last 0.36 s.
    redis_primary().set(rediskeys.rate_limit("all", f"token:{token_id}", previous_hour), 100_000, ex=60)
    assert error(account.get("users/self")) == (429, "OAuthRateLimitException")


def test_the_limit_s_call_also_tells_the_request_if_its_user_wrote_recently(healthy_stack: Stack) -> None:
    """One Redis round trip answers both: the count, and the read-your-writes pin the request's
    shard reads consult (sharding.routing), kept for the request."""
    from django.test import RequestFactory

    from instagram.request_memo import open_request_memo, recalled
    from ratelimits.limiter import Limits, check_rate_limit
    from sharding.routing import note_write

    limits = Limits(requests_per_hour=100, writes_per_hour=100)
    writer, reader = 2_000_000_000 + uuid.uuid4().int % 1_000_000, 2_001_000_000
    note_write(writer)
    redis_primary().delete(rediskeys.recent_writer(reader))

    def one_request(user_id: int) -> tuple[int | None, object]:
        open_request_memo()  # in this request's own context, as the middleware does
        request = RequestFactory().get("/v1/users/self")
        usage = check_rate_limit(request, caller=f"test:{uuid.uuid4().hex}", limits=limits, user_id=user_id)
        return (usage.remaining if usage else None), recalled(("wrote_recently", user_id))

    # Counted once, as without a user; the pin as Redis has it.
    assert contextvars.copy_context().run(one_request, writer) == (99, True)
    assert contextvars.copy_context().run(one_request, reader) == (99, False)
