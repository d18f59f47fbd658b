"""Profiles come from memcached, and a change is never followed by a stale read."""

import contextvars
from unittest import mock

import pytest
import requests
from django.core.cache import cache

from instagram.memcached import get_many_made
from instagram.request_memo import open_request_memo
from tests.conftest import Stack, wait_for
from tests.v1 import sign_up
from users import cache as profile_cache
from users.cache import Profile
from users.models import User


def test_an_edit_or_a_follow_is_seen_at_once_by_every_app_server(
    memcached: Stack, http: requests.Session
) -> None:
    viewer, owner = sign_up(memcached.api, http), sign_up(memcached.api, http)

    def cached() -> bool:
        assert viewer.data(f"users/{owner.id}")["full_name"] == ""
        return cache.get(profile_cache.version_key(int(owner.id))) is not None

    wait_for(cached, timeout=10, interval=0.2)

    assert owner.post("accounts/edit", full_name="Kevin S.", bio="photos").status_code == 200
    after = [viewer.get(f"users/{owner.id}") for _ in range(4)]
    assert {a.headers["X-Served-By"] for a in after} == {"app-1", "app-2"}
    assert {(a.json()["data"]["full_name"], a.json()["data"]["bio"]) for a in after} == {
        ("Kevin S.", "photos")
    }

    viewer.act(owner, "follow")
    assert {viewer.data(f"users/{owner.id}")["counts"]["followed_by"] for _ in range(4)} == {1}


def test_a_racing_reader_cannot_put_back_a_stale_copy(memcached: Stack, http: requests.Session) -> None:
    account = sign_up(memcached.api, http)
    user_id = int(account.id)
    stale = profile_cache.profile(user_id)
    assert stale is not None
    old_version = cache.get(profile_cache.version_key(user_id))

    # A reader read the row, then the change commits and bumps the version...
    User.objects.filter(id=user_id).update(full_name="changed")
    profile_cache.forget_profiles_on_commit(user_id)
    # ...and only then the slow reader stores what it read.
    cache.set(profile_cache.profile_key(user_id), (old_version, stale))

    fresh = profile_cache.profile(user_id)
    assert fresh is not None
    assert fresh.full_name == "changed"
    assert account.data("users/self")["full_name"] == "changed"


def test_an_evicted_version_orphans_the_old_copy(memcached: Stack, http: requests.Session) -> None:
    account = sign_up(memcached.api, http)
    user_id = int(account.id)
    assert profile_cache.profile(user_id) is not None
    User.objects.filter(id=user_id).update(bio="after eviction")
    cache.delete(profile_cache.version_key(user_id))  # memcached evicted it; the row changed meanwhile
    fresh = profile_cache.profile(user_id)
    assert fresh is not None
    assert fresh.bio == "after eviction"


@pytest.mark.disruptive
def test_without_memcached_profiles_come_from_the_database(
    healthy_stack: Stack, http: requests.Session
) -> None:
    viewer, owner = sign_up(healthy_stack.api, http), sign_up(healthy_stack.api, http)
    with healthy_stack.stopped("memcached"):
        answers = [viewer.get(f"users/{owner.id}") for _ in range(4)]
        assert {a.status_code for a in answers} == {200}
        assert viewer.post("accounts/edit", full_name="No Cache").status_code == 200
        assert viewer.data("users/self")["full_name"] == "No Cache"


def test_a_request_reads_a_profile_once_and_afresh_after_changing_it(
    memcached: Stack, http: requests.Session
) -> None:
    """Inside one request (its memo open), a second read of a profile costs no memcached round trip;
    a change the request commits drops it, so the request's next read sees the change."""
    account = sign_up(memcached.api, http)
    user_id = int(account.id)
    calls: list[list[str]] = []

    def counting(keys: list[str]) -> dict[str, object]:
        calls.append(keys)
        return get_many_made(keys)

    def one_request() -> Profile | None:
        open_request_memo()  # as RequestLogMiddleware does, in this call's own context
        first = profile_cache.profile(user_id)
        again = profile_cache.profile(user_id)
        assert first is not None
        assert again is first
        assert len(calls) == 1
        User.objects.filter(id=user_id).update(full_name="changed in the request")
        profile_cache.forget_profiles_on_commit(user_id)  # no transaction open: at once
        return profile_cache.profile(user_id)

    with mock.patch("instagram.versioned_cache.get_many_made", counting):
        fresh = contextvars.copy_context().run(one_request)
    assert fresh is not None
    assert fresh.full_name == "changed in the request"
    assert len(calls) == 2
