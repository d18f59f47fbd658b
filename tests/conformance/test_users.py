"""User endpoints, as instagram.com/developer/endpoints/users/ documented them."""

from urllib.parse import urlsplit

from tests.conformance.conftest import World, ok, public_read
from tests.conformance.shapes import LISTED_USER, MEDIA, USER, paging


def test_get_user_by_id_and_self(world: World) -> None:
    alice = ok(world.bob.get(f"users/{world.alice.id}"), USER)
    assert (alice["id"], alice["username"], alice["full_name"]) == (
        world.alice.id,
        world.alice.username,
        "Alice Liddell",
    )
    assert alice["counts"] == {"media": 3, "follows": 0, "followed_by": 1}
    assert ok(world.alice.get("users/self"), USER) == alice
    # The documented example ends the path with a slash: /v1/users/1574083/?access_token=...
    assert ok(world.bob.get(f"users/{world.alice.id}/"), USER) == alice


def test_get_user_with_a_client_id_alone(world: World) -> None:
    assert ok(public_read(world, f"users/{world.alice.id}"), USER)["username"] == world.alice.username


def test_self_feed_with_count_and_max_id(world: World) -> None:
    feed = ok(world.bob.get("users/self/feed"), [MEDIA], pagination=paging("next_max_id"))
    assert [m["id"] for m in feed] == [p["id"] for p in reversed(world.photos)]
    first = world.bob.get("users/self/feed", count=2)
    page = ok(first, [MEDIA], pagination=paging("next_max_id"))
    assert len(page) == 2
    pagination = first.json()["pagination"]
    next_url = urlsplit(pagination["next_url"])
    assert (next_url.scheme, next_url.path) == (urlsplit(world.bob.base).scheme, "/v1/users/self/feed")
    rest = ok(world.bob.get("users/self/feed", count=2, max_id=pagination["next_max_id"]), [MEDIA])
    assert [m["id"] for m in page + rest] == [m["id"] for m in feed]
    # The next_url is followed as it is, token included.
    assert ok(world.bob.http.get(pagination["next_url"], timeout=15), [MEDIA]) == rest


def test_self_feed_with_min_id(world: World) -> None:
    oldest = world.photos[0]["id"]
    newer = ok(world.bob.get("users/self/feed", min_id=oldest), [MEDIA], pagination=paging("next_max_id"))
    assert [m["id"] for m in newer] == [p["id"] for p in reversed(world.photos[1:])]


def test_user_media_recent_and_its_parameters(world: World) -> None:
    path = f"users/{world.alice.id}/media/recent"
    everything = ok(world.bob.get(path), [MEDIA], pagination=paging("next_max_id"))
    assert [m["id"] for m in everything] == [p["id"] for p in reversed(world.photos)]
    assert all(m["user"]["id"] == world.alice.id for m in everything)
    first = world.bob.get(path, count=1)
    assert len(ok(first, [MEDIA], pagination=paging("next_max_id"))) == 1
    older = ok(
        world.bob.get(path, max_id=first.json()["pagination"]["next_max_id"]),
        [MEDIA],
        pagination=paging("next_max_id"),
    )
    assert [m["id"] for m in older] == [p["id"] for p in reversed(world.photos[:2])]
    assert [
        m["id"]
        for m in ok(
            world.bob.get(path, min_id=world.photos[1]["id"]), [MEDIA], pagination=paging("next_max_id")
        )
    ] == [world.photos[2]["id"]]
    created = int(world.photos[0]["created_time"])
    assert (
        ok(world.bob.get(path, max_timestamp=created - 3600), [MEDIA], pagination=paging("next_max_id")) == []
    )
    assert (
        len(ok(world.bob.get(path, min_timestamp=created - 3600), [MEDIA], pagination=paging("next_max_id")))
        == 3
    )
    assert len(ok(public_read(world, path), [MEDIA], pagination=paging("next_max_id"))) == 3


def test_self_media_liked_with_max_like_id(world: World) -> None:
    liked = world.bob.get("users/self/media/liked", count=1)
    data = ok(liked, [MEDIA], pagination=paging("next_max_like_id"))
    assert [m["id"] for m in data] == [world.photos[0]["id"]]
    assert data[0]["user_has_liked"] is True
    assert ok(world.alice.get("users/self/media/liked"), [MEDIA], pagination=paging("next_max_like_id")) == []


def test_user_search_with_q_and_count(world: World) -> None:
    found = ok(world.bob.get("users/search", q=world.alice.username), [LISTED_USER])
    assert [u["id"] for u in found] == [world.alice.id]
    prefix = world.alice.username[: len("conf_")]
    assert len(ok(world.bob.get("users/search", q=prefix, count=1), [LISTED_USER])) == 1
    assert [
        u["id"] for u in ok(public_read(world, "users/search", q=world.alice.username), [LISTED_USER])
    ] == [world.alice.id]
