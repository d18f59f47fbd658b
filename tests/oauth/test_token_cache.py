"""Tokens, users and apps come from memcached (oauth.cache), and no change is ever missed.

Each test first reads through both app servers (so each has the token's
copy in memcached and its owner in its process), then changes something
through the API or an action, and checks that the very next request on
each app server sees it.
"""

from datetime import timedelta
from typing import Any

import pytest
import requests
from django.core.cache import cache
from django.utils import timezone
from oauth2_provider.models import AccessToken

from moderation.actions import do_set_active
from oauth import cache as token_cache
from oauth.models import ClientPolicy
from tests.conftest import Stack
from tests.oauth.conftest import register
from tests.v1 import Account, sign_up

# This process reads memcached too (cached()): wait for its client after a test restarted memcached.
pytestmark = pytest.mark.usefixtures("memcached")


def on_each_app_server(stack: Stack, account: Account, path: str = "users/self") -> list[requests.Response]:
    """GET `path` with `account`'s token from each app server directly (no nginx, no retry)."""
    return [
        requests.get(f"http://127.0.0.1:{port}/v1/{path}", params={"access_token": account.token}, timeout=15)
        for port in stack.profile.apps
    ]


def error_types(answers: list[requests.Response]) -> list[tuple[int, str | None]]:
    return [(a.status_code, a.json()["meta"].get("error_type")) for a in answers]


def cached(account: Account, stack: Stack, path: str = "users/self") -> None:
    """Read through both app servers, and check the token's copy is in memcached."""
    assert [a.status_code for a in on_each_app_server(stack, account, path)] == [200] * len(
        stack.profile.apps
    )
    token = AccessToken.objects.get(token=account.token)
    assert cache.get(token_cache.token_key(token.token_checksum)) is not None


REFUSED = (400, "OAuthAccessTokenException")


def test_a_logged_out_token_is_refused_by_every_app_server(healthy_stack: Stack, signup: Any) -> None:
    user = signup("tcout")
    other = user.with_token(scope="basic")
    cached(user, healthy_stack)
    cached(other, healthy_stack)
    assert user.post("accounts/logout").status_code == 200
    assert error_types(on_each_app_server(healthy_stack, user)) == [REFUSED, REFUSED]
    # The user's other token is still good (and read again from the database).
    assert [a.status_code for a in on_each_app_server(healthy_stack, other)] == [200, 200]


def test_a_deauthorized_app_is_refused_by_every_app_server(healthy_stack: Stack, signup: Any) -> None:
    user = signup("tcapp")
    app = register(name="Cached Filters")
    as_app = user.with_token(scope="basic", application=app.application)
    cached(as_app, healthy_stack)
    assert user.delete(f"users/self/authorized_apps/{app.client_id}").status_code == 200
    assert error_types(on_each_app_server(healthy_stack, as_app)) == [REFUSED, REFUSED]


def test_a_password_change_ends_the_other_tokens_on_every_app_server(
    healthy_stack: Stack, signup: Any
) -> None:
    user = signup("tcpwd")
    other = user.with_token(scope="basic")
    cached(other, healthy_stack)
    cached(user, healthy_stack)
    changed = user.post("accounts/password", password="kodachrome-64", new_password="ektachrome-100")
    assert changed.status_code == 200, changed.text
    assert error_types(on_each_app_server(healthy_stack, other)) == [REFUSED, REFUSED]
    assert [a.status_code for a in on_each_app_server(healthy_stack, user)] == [200, 200]


def test_a_deactivated_or_deleted_account_is_refused_by_every_app_server(
    healthy_stack: Stack, signup: Any
) -> None:
    user, leaver = signup("tcoff"), signup("tcdel")
    cached(user, healthy_stack)
    cached(leaver, healthy_stack)
    assert do_set_active(user_id=int(user.id), active=False)
    assert error_types(on_each_app_server(healthy_stack, user)) == [REFUSED, REFUSED]
    assert do_set_active(user_id=int(user.id), active=True)
    assert [a.status_code for a in on_each_app_server(healthy_stack, user)] == [200, 200]

    assert leaver.post("accounts/delete", password="kodachrome-64").status_code == 200
    assert error_types(on_each_app_server(healthy_stack, leaver)) == [REFUSED, REFUSED]


def test_a_new_block_and_a_private_account_are_seen_by_every_app_server(
    healthy_stack: Stack, http: requests.Session
) -> None:
    owner, stranger, blocked = (
        sign_up(healthy_stack.api, http, prefix=p) for p in ("tcown", "tcstr", "tcblk")
    )
    media = f"users/{owner.id}/media/recent"
    cached(stranger, healthy_stack, media)
    cached(blocked, healthy_stack, f"users/{owner.id}")
    cached(owner, healthy_stack)

    owner.act(blocked, "block")
    assert [a.status_code for a in on_each_app_server(healthy_stack, blocked, f"users/{owner.id}")] == [
        404,
        404,
    ]

    assert owner.post("accounts/edit", is_private="true").status_code == 200
    assert error_types(on_each_app_server(healthy_stack, stranger, media)) == [
        (400, "APINotAllowedError"),
        (400, "APINotAllowedError"),
    ]
    # The owner's own cached user row is the new one too (the media stays theirs to see).
    assert [a.status_code for a in on_each_app_server(healthy_stack, owner, media)] == [200, 200]


def test_a_client_policy_change_is_seen_by_every_app_server(healthy_stack: Stack, signup: Any) -> None:
    user = signup("tcpol")
    app = register(name="Cached Signer")
    as_app = user.with_token(scope="basic", application=app.application)
    cached(as_app, healthy_stack)
    ClientPolicy.objects.update_or_create(
        application=app.application, defaults={"enforce_signed_requests": True}
    )
    # Unsigned calls are refused now, on every app server.
    assert {a.status_code for a in on_each_app_server(healthy_stack, as_app)} == {403}


def test_memcached_holds_no_secret(healthy_stack: Stack, signup: Any) -> None:
    user = signup("tcsec")
    cached(user, healthy_stack)
    token = AccessToken.objects.select_related("user", "application").get(token=user.token)
    entry = cache.get(token_cache.token_key(token.token_checksum))
    copy = entry["token"]
    assert copy.id == token.id
    assert copy.user.id == token.user.id
    for row, name in [(copy, "token"), (copy.user, "password"), (copy.application, "client_secret")]:
        assert name not in row.__dict__  # deferred: read from the database if ever needed
    # ...and read from it when something does need one.
    assert copy.token == user.token
    assert copy.user.check_password("kodachrome-64")


@pytest.mark.parametrize("lost", ["entry", "user version", "app version"])
def test_a_lost_key_is_a_miss_not_a_stale_read(healthy_stack: Stack, signup: Any, lost: str) -> None:
    user = signup("tclost")
    cached(user, healthy_stack)
    token = AccessToken.objects.get(token=user.token)
    keys = {
        "entry": token_cache.token_key(token.token_checksum),
        "user version": token_cache.USERS.version_key(token.user_id),
        "app version": token_cache.APPS.version_key(token.application_id),
    }
    cache.delete(keys[lost])  # evicted; meanwhile the token changes without a signal (an .update())
    AccessToken.objects.filter(id=token.id).update(expires=timezone.now() - timedelta(seconds=1))
    # A lost version is a new random one: the old copy is never read again.
    assert error_types(on_each_app_server(healthy_stack, user)) == [REFUSED, REFUSED]
