"""Profiles come from memcached, and a change is never followed by a stale read."""

import pytest
import requests
from django.core.cache import cache

from tests.conftest import Stack, wait_for
from tests.v1 import sign_up
from users import cache as profile_cache
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
