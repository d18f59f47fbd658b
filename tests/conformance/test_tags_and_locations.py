"""Tag, location and geography endpoints, as instagram.com/developer/endpoints/tags/,
/locations/ and /geographies/ documented them."""

import secrets

import pytest

from tests.conformance.conftest import PIER, World, ok, public_read
from tests.conformance.shapes import LOCATION, MEDIA, TAG, Obj, paging
from tests.photos.images import jpeg


def test_get_tag(world: World) -> None:
    assert ok(world.bob.get(f"tags/{world.tag}"), TAG) == {"name": world.tag, "media_count": 2}
    assert ok(public_read(world, f"tags/{world.tag}"), TAG)["media_count"] == 2


def test_tag_search_with_q(world: World) -> None:
    found = ok(world.bob.get("tags/search", q=world.tag[:-2]), [TAG])
    assert {"name": world.tag, "media_count": 2} in found
    # Clients sent the hash sign along at times.
    assert {"name": world.tag, "media_count": 2} in ok(world.bob.get("tags/search", q=f"#{world.tag}"), [TAG])
    assert ok(public_read(world, "tags/search", q=world.tag), [TAG]) == [
        {"name": world.tag, "media_count": 2}
    ]


def test_tag_search_puts_the_exact_match_first(world: World) -> None:
    """v1: "ordered first as an exact match, then by popularity"; a short query is an exact match only."""
    word = f"x{secrets.token_hex(6)}"
    world.alice.post_photo(jpeg(200, 200), caption=f"#{word}")
    for n in range(2):
        world.alice.post_photo(jpeg(200, 200), caption=f"#{word}more {n}")
    found = ok(world.bob.get("tags/search", q=word), [TAG])
    assert [t["name"] for t in found] == [word, f"{word}more"]
    assert [t["media_count"] for t in found] == [1, 2]
    assert all(len(t["name"]) == 2 for t in ok(world.bob.get("tags/search", q=word[:2]), [TAG]))


def test_tag_media_recent_pages_to_the_end(world: World) -> None:
    path = f"tags/{world.tag}/media/recent"
    tagged = [p["id"] for p in reversed(world.photos[:2])]
    assert [m["id"] for m in ok(world.bob.get(path), [MEDIA], pagination=tag_paging())] == tagged
    seen: list[str] = []
    response = world.bob.get(path, count=1)
    for _ in range(5):
        seen += [m["id"] for m in ok(response, [MEDIA], pagination=tag_paging())]
        pagination = response.json()["pagination"]
        if "next_url" not in pagination:
            break
        response = world.bob.get(path, count=1, max_tag_id=pagination["next_max_tag_id"])
    assert seen == tagged
    assert [m["id"] for m in ok(public_read(world, path), [MEDIA], pagination=tag_paging())] == tagged


def tag_paging() -> Obj:
    """Tag pages named their cursors as tag ids; every key is optional but next_url comes with a cursor."""
    return Obj(
        {},
        optional={
            "next_url": str,
            "next_max_tag_id": str,
            "next_max_id": str,
            "next_min_id": str,
            "min_tag_id": str,
            "deprecation_warning": str,
        },
    )


def test_get_location(world: World) -> None:
    place = world.photos[0]["location"]
    assert ok(world.bob.get(f"locations/{place['id']}"), LOCATION) == place
    assert ok(public_read(world, f"locations/{place['id']}"), LOCATION) == place


def test_location_search_with_lat_lng_and_distance(world: World) -> None:
    place = world.photos[0]["location"]
    found = ok(world.bob.get("locations/search", lat=PIER["lat"], lng=PIER["lng"], distance=50), [LOCATION])
    assert place in found  # (other worlds' places may stand on the same spot)
    # Civic Center is about 4.2 km from the pier: inside 5000 m (v1's largest distance), outside 100 m.
    assert place in ok(
        world.bob.get("locations/search", lat="37.7749", lng="-122.4194", distance=5000, count=100),
        [LOCATION],
    )
    assert place not in ok(
        world.bob.get("locations/search", lat="37.7749", lng="-122.4194", distance=100), [LOCATION]
    )
    assert place in ok(public_read(world, "locations/search", lat=PIER["lat"], lng=PIER["lng"]), [LOCATION])


def test_location_media_recent_with_min_and_max_id(world: World) -> None:
    place = world.photos[0]["location"]
    path = f"locations/{place['id']}/media/recent"
    media = ok(world.bob.get(path), [MEDIA], pagination=paging("next_max_id"))
    assert [m["id"] for m in media] == [world.photos[0]["id"]]
    assert (
        ok(world.bob.get(path, max_id=world.photos[0]["id"]), [MEDIA], pagination=paging("next_max_id")) == []
    )
    assert (
        ok(world.bob.get(path, min_id=world.photos[0]["id"]), [MEDIA], pagination=paging("next_max_id")) == []
    )
    assert [m["id"] for m in ok(public_read(world, path), [MEDIA], pagination=paging("next_max_id"))] == [
        world.photos[0]["id"]
    ]


@pytest.mark.parametrize("kind", ["foursquare_v2_id", "foursquare_id", "facebook_places_id"])
def test_location_search_by_a_venue_id(world: World, kind: str) -> None:
    place = world.photos[0]["location"]
    assert ok(world.bob.get("locations/search", **{kind: world.venue[kind]}), [LOCATION]) == [place]
    assert ok(public_read(world, "locations/search", **{kind: world.venue[kind]}), [LOCATION]) == [place]
    assert ok(world.bob.get("locations/search", foursquare_v2_id="0" * 24), [LOCATION]) == []


def test_location_media_recent_with_min_and_max_timestamp(world: World) -> None:
    place = world.photos[0]["location"]
    path = f"locations/{place['id']}/media/recent"
    created = int(world.photos[0]["created_time"])
    inside = {"min_timestamp": created - 60, "max_timestamp": created + 60}
    found = ok(world.bob.get(path, **inside), [MEDIA], pagination=paging("next_max_id"))
    assert [m["id"] for m in found] == [world.photos[0]["id"]]
    before = {"max_timestamp": created - 3600}
    assert ok(world.bob.get(path, **before), [MEDIA], pagination=paging("next_max_id")) == []


def test_tag_pagination_names_its_cursors_as_v1_did(world: World) -> None:
    first = world.bob.get(f"tags/{world.tag}/media/recent", count=1)
    ok(first, [MEDIA], pagination=tag_paging())
    pagination = first.json()["pagination"]
    assert {"next_url", "next_max_tag_id", "next_max_id", "min_tag_id", "next_min_id"} <= set(pagination)
    assert pagination["next_max_id"] == pagination["next_max_tag_id"]
    # min_tag_id: what a client sends later to get only what is newer than this page.
    newer = world.bob.get(f"tags/{world.tag}/media/recent", min_tag_id=pagination["min_tag_id"])
    assert ok(newer, [MEDIA], pagination=tag_paging()) == []
