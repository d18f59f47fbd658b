"""Finding photos: tags, locations, geo search and popular, end to end."""

import math
import random
import uuid
from typing import Any

import requests

from photos.models import Location
from tests.photos.images import jpeg
from tests.v1 import Account


def somewhere() -> tuple[float, float]:
    """A point of this test's own (in the southern ocean), so tests never see each other's photos."""
    return random.uniform(-60, -45), random.uniform(-170, 170)


def moved(lat: float, lng: float, *, north_m: float) -> tuple[float, float]:
    return lat + north_m / 111_195, lng


def ids(media: list[dict[str, Any]]) -> list[str]:
    return [m["id"] for m in media]


def test_tags_count_page_and_search(signup: Any, http: requests.Session) -> None:
    kevin, mike = signup("kevin"), signup("mike")
    word = f"pier{uuid.uuid4().hex[:8]}"
    first = kevin.post_photo(jpeg(300, 300), caption=f"Morning at the #{word.upper()}")
    second = mike.post_photo(jpeg(300, 300), caption=f"#{word} again, and #{word}")
    third = kevin.post_photo(jpeg(300, 300), caption=f"#{word}_sunset")

    assert kevin.data(f"tags/{word}") == {"name": word, "media_count": 2}
    assert kevin.data(f"tags/{word.upper()}")["name"] == word  # tags are case-insensitive
    page = kevin.get(f"tags/{word}/media/recent", count=1).json()
    assert ids(page["data"]) == [second["id"]]
    assert page["pagination"]["next_max_tag_id"] == second["id"].partition("_")[0]
    rest = http.get(page["pagination"]["next_url"], timeout=10).json()
    assert ids(rest["data"]) == [first["id"]]
    found = kevin.data("tags/search", q=word[:-2])
    assert [t["name"] for t in found] == [word, f"{word}_sunset"]  # most used first
    assert found[0]["media_count"] == 2
    assert ids(kevin.data(f"tags/{word}_sunset/media/recent")) == [third["id"]]


def test_tags_in_scripts_other_than_latin(signup: Any) -> None:
    kevin = signup("kevin")
    word = f"東京{uuid.uuid4().hex[:6]}"
    media = kevin.post_photo(jpeg(300, 300), caption=f"夜景 #{word}")
    assert media["tags"] == [word]
    assert ids(kevin.data(f"tags/{word}/media/recent")) == [media["id"]]


def test_a_named_place_becomes_a_location(signup: Any) -> None:
    kevin, mike = signup("kevin"), signup("mike")
    lat, lng = somewhere()
    name = f"Pier {uuid.uuid4().hex[:6]}"
    first = kevin.post_photo(jpeg(300, 300), lat=str(lat), lng=str(lng), location_name=name)
    place = first["location"]
    assert place["name"] == name
    assert math.isclose(place["latitude"], lat)
    assert math.isclose(place["longitude"], lng)
    # The same name a few meters away is the same place; so is posting by its id.
    near = moved(lat, lng, north_m=20)
    second = mike.post_photo(jpeg(300, 300), lat=str(near[0]), lng=str(near[1]), location_name=name.upper())
    third = mike.post_photo(jpeg(300, 300), location_id=place["id"])
    assert second["location"]["id"] == third["location"]["id"] == place["id"]

    assert kevin.data(f"locations/{place['id']}") == {
        "id": place["id"],
        "name": name,
        "latitude": place["latitude"],
        "longitude": place["longitude"],
    }
    assert ids(kevin.data(f"locations/{place['id']}/media/recent")) == [
        third["id"],
        second["id"],
        first["id"],
    ]
    far = moved(lat, lng, north_m=3000)
    assert [
        p["id"] for p in kevin.data("locations/search", lat=str(far[0]), lng=str(far[1]), distance="5000")
    ] == [place["id"]]
    assert kevin.data("locations/search", lat=str(far[0]), lng=str(far[1])) == []  # default: 1 km


def test_a_place_edited_or_deleted_by_an_admin_is_shown_so_at_once(signup: Any) -> None:
    """The location endpoints read their place from memcached: an admin's save or delete is seen by
    the next request."""
    kevin = signup("kevin")
    lat, lng = somewhere()
    place = kevin.post_photo(jpeg(200, 200), lat=str(lat), lng=str(lng), location_name="Old Pier")["location"]
    assert kevin.data(f"locations/{place['id']}")["name"] == "Old Pier"  # now cached

    row = Location.objects.get(id=int(place["id"]))
    row.name = "New Pier"
    row.save()  # what the admin's change form does
    assert kevin.data(f"locations/{place['id']}")["name"] == "New Pier"
    assert len(kevin.data(f"locations/{place['id']}/media/recent")) == 1

    row.delete()
    for path in (f"locations/{place['id']}", f"locations/{place['id']}/media/recent"):
        gone = kevin.get(path)
        assert gone.status_code == 404
        assert gone.json()["meta"]["error_type"] == "APINotFoundError"


def test_geo_search_by_distance_and_time(signup: Any) -> None:
    kevin = signup("kevin")
    lat, lng = somewhere()
    posted = {}
    for meters in (50, 800, 1500, 4500):
        point = moved(lat, lng, north_m=meters)
        posted[meters] = kevin.post_photo(jpeg(200, 200), lat=str(point[0]), lng=str(point[1]))["id"]
    near = kevin.data("media/search", lat=str(lat), lng=str(lng))
    assert ids(near) == [posted[800], posted[50]]  # within 1 km, newest first
    wide = kevin.data("media/search", lat=str(lat), lng=str(lng), distance="5000")
    assert ids(wide) == [posted[4500], posted[1500], posted[800], posted[50]]
    assert (
        kevin.data("media/search", lat=str(lat), lng=str(lng), distance="5000", max_timestamp="1300000000")
        == []
    )
    assert len(kevin.data("media/search", lat=str(lat), lng=str(lng), distance="5000", count="2")) == 2


def test_popular_ranks_by_recent_likes_and_shows_only_public_media(signup: Any) -> None:
    star, private = signup("star"), signup("private", private=True)
    fans: list[Account] = [signup("fan") for _ in range(3)]
    hit = star.post_photo(jpeg(300, 300))
    quiet = star.post_photo(jpeg(300, 300))
    hidden = private.post_photo(jpeg(300, 300))
    for fan in fans:
        assert fan.post(f"media/{hit['id']}/likes").status_code == 200
    assert fans[0].post(f"media/{quiet['id']}/likes").status_code == 200
    assert private.post(f"media/{hidden['id']}/likes").status_code == 200

    popular = ids(fans[0].data("media/popular", count="100"))
    assert hit["id"] in popular
    assert quiet["id"] in popular
    assert popular.index(hit["id"]) < popular.index(quiet["id"])
    assert hidden["id"] not in popular
    for fan in fans:
        assert fan.delete(f"media/{hit['id']}/likes").status_code == 200
    assert hit["id"] not in ids(fans[0].data("media/popular", count="100"))
