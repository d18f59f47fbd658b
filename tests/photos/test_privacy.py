"""Private accounts and blocks hold on every photo endpoint."""

import random
import uuid
from typing import Any

import pytest

from tests.photos.images import jpeg
from tests.v1 import Account, error


@pytest.fixture
def private_post(signup: Any) -> tuple[Account, Account, Account, dict[str, Any], str, tuple[str, str]]:
    """A private account's tagged, located photo; an approved follower; a stranger."""
    owner = signup("owner", private=True)
    follower, stranger = signup("follower"), signup("stranger")
    follower.act(owner, "follow")
    owner.act(follower, "approve")
    tag = f"secret{uuid.uuid4().hex[:8]}"
    point = (str(random.uniform(-60, -45)), str(random.uniform(-170, 170)))
    media = owner.post_photo(jpeg(300, 300), caption=f"#{tag}", lat=point[0], lng=point[1])
    return owner, follower, stranger, media, tag, point


def test_a_private_photo_is_seen_by_its_owner_and_approved_followers_only(private_post: Any) -> None:
    owner, follower, stranger, media, tag, (lat, lng) = private_post
    ref = media["id"]
    for reader in (owner, follower):
        assert reader.data(f"media/{ref}")["id"] == ref
        assert [m["id"] for m in reader.data(f"users/{owner.id}/media/recent")] == [ref]
        assert [m["id"] for m in reader.data(f"tags/{tag}/media/recent")] == [ref]
        assert [m["id"] for m in reader.data("media/search", lat=lat, lng=lng)] == [ref]
        assert reader.data(f"media/{ref}/comments") == [media["caption"]]

    for path in (
        f"media/{ref}",
        f"media/{ref}/likes",
        f"media/{ref}/comments",
        f"users/{owner.id}/media/recent",
    ):
        assert error(stranger.get(path)) == (400, "APINotAllowedError"), path
    assert error(stranger.post(f"media/{ref}/likes")) == (400, "APINotAllowedError")
    assert error(stranger.post(f"media/{ref}/comments", text="hi")) == (400, "APINotAllowedError")
    assert stranger.data(f"tags/{tag}/media/recent") == []
    assert stranger.data("media/search", lat=lat, lng=lng) == []
    assert stranger.data(f"tags/{tag}")["media_count"] == 1  # the count is public, as on Instagram


def test_a_photo_liked_before_the_account_went_private_leaves_the_liked_list(signup: Any) -> None:
    owner, fan = signup("owner"), signup("fan")
    media = owner.post_photo(jpeg(300, 300))
    assert fan.post(f"media/{media['id']}/likes").status_code == 200
    assert [m["id"] for m in fan.data("users/self/media/liked")] == [media["id"]]
    assert owner.post("accounts/edit", is_private="true").status_code == 200
    assert fan.data("users/self/media/liked") == []


def test_a_block_hides_photos_both_ways(signup: Any) -> None:
    owner, blocked = signup("owner"), signup("blocked")
    tag = f"blk{uuid.uuid4().hex[:8]}"
    media = owner.post_photo(jpeg(300, 300), caption=f"#{tag}")
    theirs = blocked.post_photo(jpeg(300, 300))
    owner.act(blocked, "block")
    assert error(blocked.get(f"media/{media['id']}")) == (404, "APINotFoundError")
    assert error(blocked.post(f"media/{media['id']}/likes")) == (404, "APINotFoundError")
    assert blocked.data(f"tags/{tag}/media/recent") == []
    assert error(owner.get(f"media/{theirs['id']}")) == (400, "APINotAllowedError")
