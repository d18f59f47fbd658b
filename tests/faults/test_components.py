"""One component down (or black-holed) at a time, through nginx: every endpoint
works degraded or answers an enveloped 503 naming the component, and a write
is whole or absent, never half-done."""

import uuid
from typing import Any

import pytest
import requests

from tests.conftest import Stack, wait_for
from tests.photos.images import jpeg
from tests.v1 import Account
from users.cache import profile

pytestmark = pytest.mark.disruptive

COMPONENT_NAMES = {"redis-primary": "Redis", "memcached": "memcached"}


def degraded_or_enveloped_503(response: requests.Response, component: str) -> bool:
    """True for a 2xx, or a v1-enveloped 503 naming `component`; fail on anything else."""
    assert "Traceback" not in response.text, response.text
    if response.status_code < 300:
        return True
    assert response.status_code == 503, (response.request.url, response.status_code, response.text)
    meta = response.json()["meta"]
    assert meta["code"] == 503, meta
    assert meta["error_type"] == "APIUnavailableError", meta
    assert component in meta["error_message"], meta
    return False


def reads(viewer: Account, owner: Account, media_id: str) -> list[requests.Response]:
    return [
        viewer.get("users/self"),
        viewer.get(f"users/{owner.id}"),
        viewer.get("users/self/feed"),
        viewer.get(f"users/{owner.id}/media/recent"),
        viewer.get(f"media/{media_id}"),
        viewer.get(f"media/{media_id}/likes"),
        viewer.get(f"media/{media_id}/comments"),
        viewer.get(f"users/{owner.id}/followed-by"),
        viewer.get("users/self/requested-by"),
    ]


@pytest.mark.parametrize("program", ["redis-primary", "memcached"])
def test_reads_while_a_cache_server_is_down_work_or_answer_503(
    stack: Stack, signup: Any, program: str
) -> None:
    owner, viewer = signup("cd_owner"), signup("cd_viewer")
    viewer.act(owner, "follow")
    media_id = owner.post_photo(jpeg(160, 160))["id"]
    with stack.stopped(program):
        for response in reads(viewer, owner, media_id):
            degraded_or_enveloped_503(response, COMPONENT_NAMES[program])


def test_an_upload_while_redis_is_down_is_whole_or_absent(stack: Stack, signup: Any, http: Any) -> None:
    owner = signup("cd_upload")
    caption = f"redis-down {uuid.uuid4().hex[:8]}"
    with stack.stopped("redis-primary"):
        response = owner.upload(jpeg(160, 160), caption=caption)  # no idempotency key
        acknowledged = degraded_or_enveloped_503(response, "Redis")
    mine = wait_for(lambda: _recent(owner), timeout=30)
    posted = [media for media in mine if (media.get("caption") or {}).get("text") == caption]
    if not acknowledged:
        assert posted == []
        return
    assert [media["id"] for media in posted] == [response.json()["data"]["id"]]
    image = http.get(posted[0]["images"]["standard_resolution"]["url"], timeout=15)
    assert image.status_code == 200  # its renditions were kept


def _recent(account: Account) -> list[dict[str, Any]] | None:
    response = account.get("users/self/media/recent", count=20)
    return response.json()["data"] if response.status_code == 200 else None


def test_a_follow_approval_while_redis_is_down_writes_both_halves_or_neither(
    stack: Stack, signup: Any
) -> None:
    owner, fan = signup("cd_private", private=True), signup("cd_asker")
    fan.act(owner, "follow")
    with stack.stopped("redis-primary"):
        response = owner.post(f"users/{fan.id}/relationship", action="approve")
        degraded_or_enveloped_503(response, "Redis")

    def both_sides() -> tuple[bool, bool] | None:
        out = owner.get(f"users/{fan.id}/relationship")
        back = fan.get(f"users/{owner.id}/relationship")
        if out.status_code != 200 or back.status_code != 200:
            return None
        return (
            out.json()["data"]["incoming_status"] == "followed_by",
            back.json()["data"]["outgoing_status"] == "follows",
        )

    followed, follows = wait_for(both_sides, timeout=30)
    assert followed == follows


def test_a_privacy_change_during_a_memcached_hiccup_is_not_served_stale(stack: Stack, signup: Any) -> None:
    account = signup("cd_privacy")
    assert cached_privacy(account) is False
    with stack.black_holed("memcached"):
        response = account.post("accounts/edit", is_private="true")
        assert response.status_code == 200, response.text
    # memcached kept the old version and the public copy; the bump must reach it.
    wait_for(lambda: cached_privacy(account), timeout=60, interval=0.5)


def cached_privacy(account: Account) -> bool | None:
    """The account's privacy as the profile cache serves it (memcached first)."""
    found = profile(int(account.id))
    return None if found is None else found.is_private
