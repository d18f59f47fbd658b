"""The v1 contract as clients of the era used it (issue 14), end to end through nginx.

Locations by foursquare and Facebook ids, time bounds on a location's media,
v1's tag paging, the media search window and distances, the caption as the
owner's first comment, and users_in_photo.
"""

import json
import math
import random
import secrets
import time
import uuid
from typing import Any

import requests

from tests.conftest import Stack
from tests.moderation.conftest import AdminSession, make_staff
from tests.photos.images import jpeg
from tests.photos.test_discovery import ids, moved, somewhere
from tests.v1 import Account, error

DAY = 86400


def foursquare_v2_id() -> str:
    return secrets.token_hex(12)  # 24 hexadecimal digits, as foursquare's venue ids


def numeric_id() -> str:
    return str(random.randrange(10**9, 10**15))


def refused(response: requests.Response, *words: str) -> None:
    assert error(response) == (400, "APIInvalidParametersError"), response.text
    message = response.json()["meta"]["error_message"]
    for word in words:
        assert word in message, message


def bare(media: dict[str, Any]) -> str:
    return str(media["id"]).partition("_")[0]


# ------------------------------------------------------------------------- 1. external place ids


def test_a_location_is_found_by_its_foursquare_and_facebook_ids(signup: Any) -> None:
    kevin, mike = signup("kevin"), signup("mike")
    lat, lng = somewhere()
    venue, page = foursquare_v2_id(), numeric_id()
    name = f"Ferry Building {uuid.uuid4().hex[:6]}"
    first = kevin.post_photo(
        jpeg(300, 300),
        lat=str(lat),
        lng=str(lng),
        location_name=name,
        foursquare_v2_id=venue.upper(),  # foursquare ids are hexadecimal: any case names the venue
        facebook_places_id=page,
    )
    place = first["location"]
    assert place["name"] == name
    expected = [
        {"id": place["id"], "name": name, "latitude": place["latitude"], "longitude": place["longitude"]}
    ]

    assert kevin.data("locations/search", foursquare_v2_id=venue) == expected  # no lat/lng needed
    assert kevin.data("locations/search", foursquare_v2_id=venue.upper()) == expected
    assert kevin.data("locations/search", facebook_places_id=page) == expected
    far = moved(lat, lng, north_m=50_000)  # lat/lng too: the id decides
    with_point = {"lat": str(far[0]), "lng": str(far[1])}
    assert kevin.data("locations/search", foursquare_v2_id=venue, **with_point) == expected
    assert kevin.data("locations/search", foursquare_v2_id=foursquare_v2_id()) == []
    assert kevin.data("locations/search", facebook_places_id=numeric_id()) == []
    assert kevin.data("locations/search", foursquare_id=numeric_id()) == []

    # Another upload naming the venue by its id alone is at the same location.
    second = mike.post_photo(jpeg(300, 300), foursquare_v2_id=venue)
    assert second["location"] == place
    assert ids(mike.data(f"locations/{place['id']}/media/recent")) == [second["id"], first["id"]]


def test_bad_external_ids_are_refused_naming_the_parameter(signup: Any) -> None:
    viewer = signup("viewer")
    refused(viewer.get("locations/search", foursquare_v2_id="4a3d5ee0f964a5204da21fe"), "foursquare_v2_id")
    refused(viewer.get("locations/search", foursquare_v2_id="zz3d5ee0f964a5204da21fe3"), "foursquare_v2_id")
    refused(viewer.get("locations/search", foursquare_id="ferry-building"), "foursquare_id")
    refused(viewer.get("locations/search", facebook_places_id="1e5"), "facebook_places_id")
    refused(viewer.get("locations/search", facebook_places_id="9" * 21), "facebook_places_id")
    refused(viewer.get("locations/search", facebook_places_id="110", lat="91", lng="0"), "latitude")
    refused(viewer.get("locations/search"), "lat")  # neither an id nor a point


def test_the_admin_names_a_place_with_its_ids(signup: Any, healthy_stack: Stack) -> None:
    operator, kevin = signup("op"), signup("kevin")
    make_staff(operator)
    admin = AdminSession(healthy_stack, operator)
    lat, lng = somewhere()
    name, legacy, venue = f"Coit Tower {uuid.uuid4().hex[:6]}", numeric_id(), foursquare_v2_id()
    fields = {"name": name, "latitude": str(lat), "longitude": str(lng), "foursquare_id": legacy}
    refused_form = admin.post("/photos/location/add/", **fields, foursquare_v2_id="not-a-venue")
    assert "24 hexadecimal digits" in refused_form.text
    assert kevin.data("locations/search", foursquare_id=legacy) == []  # nothing saved
    admin.post("/photos/location/add/", **fields, foursquare_v2_id=venue.upper())

    (place,) = kevin.data("locations/search", foursquare_id=legacy)
    assert (place["name"], place["latitude"], place["longitude"]) == (name, lat, lng)
    assert kevin.data("locations/search", foursquare_v2_id=venue) == [place]
    # The admin's place is in the geo index too, and uploads find it by its ids.
    assert place in kevin.data("locations/search", lat=str(lat), lng=str(lng))
    media = kevin.post_photo(jpeg(300, 300), foursquare_id=legacy)
    assert media["location"]["id"] == place["id"]


def test_upload_with_external_ids_refuses_what_it_cannot_place(signup: Any) -> None:
    kevin, mike = signup("kevin"), signup("mike")
    photo = jpeg(300, 300)
    lat, lng = somewhere()
    venue, page = foursquare_v2_id(), numeric_id()
    one = mike.post_photo(photo, lat=str(lat), lng=str(lng), location_name="One", foursquare_v2_id=venue)
    other = mike.post_photo(photo, lat=str(lat), lng=str(lng), location_name="Other", facebook_places_id=page)
    assert one["location"]["id"] != other["location"]["id"]

    refused(kevin.upload(photo, foursquare_v2_id="nope"), "foursquare_v2_id")
    refused(kevin.upload(photo, foursquare_v2_id=foursquare_v2_id()), "location_name, lat and lng")
    refused(kevin.upload(photo, location_id="1", facebook_places_id=numeric_id()), "not both")
    both = {"foursquare_v2_id": venue, "facebook_places_id": page}
    refused(kevin.upload(photo, **both), "foursquare_v2_id and facebook_places_id name different locations")
    assert kevin.data("users/self")["counts"]["media"] == 0
    # An id no place carries beside one a place carries: that place.
    media = kevin.post_photo(photo, foursquare_v2_id=foursquare_v2_id(), facebook_places_id=page)
    assert media["location"] == other["location"]


# ------------------------------------------------------------------ 2. a location's media by time


def wait_next_second() -> None:
    time.sleep(1.05 - time.time() % 1)


def test_location_media_honour_min_and_max_timestamp(signup: Any) -> None:
    kevin = signup("kevin")
    lat, lng = somewhere()
    name = f"Dolores Park {uuid.uuid4().hex[:6]}"
    older = kevin.post_photo(jpeg(200, 200), lat=str(lat), lng=str(lng), location_name=name)
    place = older["location"]["id"]
    wait_next_second()
    newer = kevin.post_photo(jpeg(200, 200), location_id=place)
    assert int(newer["created_time"]) > int(older["created_time"])
    path = f"locations/{place}/media/recent"

    assert ids(kevin.data(path)) == [newer["id"], older["id"]]
    assert ids(kevin.data(path, max_timestamp=older["created_time"])) == [older["id"]]
    assert ids(kevin.data(path, min_timestamp=newer["created_time"])) == [newer["id"]]
    both = {"min_timestamp": older["created_time"], "max_timestamp": newer["created_time"]}
    assert ids(kevin.data(path, **both)) == [newer["id"], older["id"]]
    assert kevin.data(path, min_timestamp=str(int(newer["created_time"]) + 1)) == []
    assert kevin.data(path, max_timestamp=str(int(older["created_time"]) - 1)) == []
    # Time and id bounds together: the tighter of each wins.
    assert ids(kevin.data(path, min_timestamp=older["created_time"], max_id=bare(newer))) == [older["id"]]
    assert kevin.data(path, min_timestamp="0", max_timestamp="99999999999") != []  # far ends are fine

    refused(kevin.get(path, min_timestamp="yesterday"), "min_timestamp")
    refused(kevin.get(path, max_timestamp="-5"), "max_timestamp")
    backwards = {"min_timestamp": newer["created_time"], "max_timestamp": older["created_time"]}
    refused(kevin.get(path, **backwards), "after")


# ------------------------------------------------------------------------------- 3. tag paging


def test_tag_pages_carry_v1_pagination_and_visit_every_media_once(
    signup: Any, http: requests.Session
) -> None:
    kevin, hidden, viewer = signup("kevin"), signup("carol", private=True), signup("viewer")
    word = f"dusk{uuid.uuid4().hex[:8]}"
    posted = [kevin.post_photo(jpeg(200, 200), caption=f"#{word} {n}") for n in range(3)]
    hidden.post_photo(jpeg(200, 200), caption=f"#{word} private")  # in the index, not shown to viewer
    posted += [kevin.post_photo(jpeg(200, 200), caption=f"#{word} {n}") for n in range(3, 5)]
    newest_first = [m["id"] for m in reversed(posted)]

    first = viewer.get(f"tags/{word}/media/recent", count=2).json()
    pagination = first["pagination"]
    assert set(pagination) == {
        "next_max_tag_id",
        "next_max_id",
        "next_min_id",
        "min_tag_id",
        "next_url",
        "deprecation_warning",
    }
    assert ids(first["data"]) == newest_first[:2]
    assert pagination["next_max_tag_id"] == pagination["next_max_id"] == bare(posted[3])
    assert pagination["min_tag_id"] == pagination["next_min_id"] == bare(posted[4])

    seen, page, pages = ids(first["data"]), first, 1
    while "next_url" in page["pagination"]:
        page = http.get(page["pagination"]["next_url"], timeout=10).json()
        assert page["meta"]["code"] == 200
        seen += ids(page["data"])
        pages += 1
        assert pages < 10
    assert seen == newest_first  # each visible media once, in order; the private one never
    assert set(page["pagination"]) <= {"min_tag_id", "next_min_id", "deprecation_warning"}

    # The cursor by hand, under either name.
    by_tag_id = viewer.data(f"tags/{word}/media/recent", count=2, max_tag_id=pagination["next_max_tag_id"])
    by_max_id = viewer.data(f"tags/{word}/media/recent", count=2, max_id=pagination["next_max_id"])
    # Two entries of the index below the cursor: the private media (left out) and the next of kevin's.
    assert ids(by_tag_id) == ids(by_max_id) == newest_first[2:3]
    # Polling for what is newer than the first page's newest.
    assert viewer.data(f"tags/{word}/media/recent", min_tag_id=pagination["min_tag_id"]) == []
    latest = kevin.post_photo(jpeg(200, 200), caption=f"#{word} latest")
    newer = viewer.get(f"tags/{word}/media/recent", min_tag_id=pagination["min_tag_id"]).json()
    assert ids(newer["data"]) == [latest["id"]]
    assert newer["pagination"]["min_tag_id"] == bare(latest)
    assert ids(viewer.data(f"tags/{word}/media/recent", min_id=pagination["min_tag_id"])) == [latest["id"]]

    refused(viewer.get(f"tags/{word}/media/recent", max_tag_id="abc"), "max_tag_id")
    refused(viewer.get(f"tags/{word}/media/recent", min_id="abc"), "min_id")


# ----------------------------------------------------------------------------- 4. media search


def test_media_search_window_and_distances(signup: Any) -> None:
    kevin = signup("kevin")
    lat, lng = somewhere()
    posted = {}
    for meters in (30, 700):
        point = moved(lat, lng, north_m=meters)
        posted[meters] = kevin.post_photo(jpeg(200, 200), lat=str(point[0]), lng=str(point[1]))["id"]
    found = kevin.data("media/search", lat=str(lat), lng=str(lng))
    assert ids(found) == [posted[700], posted[30]]
    for item, meters in zip(found, (700, 30), strict=True):
        assert isinstance(item["distance"], float)
        assert math.isclose(item["distance"], meters, abs_tol=2), item["distance"]

    now = int(time.time())
    here = {"lat": str(lat), "lng": str(lng)}
    # min_timestamp defaults to 5 days before max_timestamp: a window ending in 6 days misses today.
    assert kevin.data("media/search", **here, max_timestamp=str(now + 6 * DAY)) == []
    assert ids(kevin.data("media/search", **here, max_timestamp=str(now + 4 * DAY))) == ids(found)
    assert ids(kevin.data("media/search", **here, min_timestamp=str(now - 6 * DAY))) == ids(found)
    six_days = {"min_timestamp": str(now - 3 * DAY), "max_timestamp": str(now + 3 * DAY)}
    assert ids(kevin.data("media/search", **here, **six_days)) == ids(found)
    refused(kevin.get("media/search", **here, min_timestamp=str(now - 8 * DAY)), "7 days")
    too_wide = {"min_timestamp": str(now - 10 * DAY), "max_timestamp": str(now - 2 * DAY)}
    refused(kevin.get("media/search", **here, **too_wide), "min_timestamp", "max_timestamp", "7 days")
    refused(kevin.get("media/search", **here, min_timestamp=str(now), max_timestamp=str(now - 60)), "after")


# -------------------------------------------------------------------------------- 5. the caption


def test_the_caption_is_the_owners_first_comment(signup: Any) -> None:
    kevin, fan = signup("kevin"), signup("fan")
    media = kevin.post_photo(jpeg(200, 200), caption="Golden hour #pier")
    caption = media["caption"]
    assert caption["id"].isdigit()
    assert caption["id"] != bare(media)
    assert caption["from"]["id"] == kevin.id
    comment = fan.post(f"media/{media['id']}/comments", text="Lovely").json()["data"]

    listed = fan.data(f"media/{media['id']}/comments")
    assert listed == [caption, comment]
    shown = fan.data(f"media/{media['id']}")
    assert shown["caption"] == caption
    assert shown["comments"] == {"count": 2, "data": [caption, comment]}

    # Reported as a comment, the caption is reported as the photo it belongs to.
    reported = fan.post(f"media/{media['id']}/comments/{caption['id']}/report", reason="spam")
    assert reported.status_code == 201, reported.text
    assert (reported.json()["data"]["kind"], reported.json()["data"]["target_id"]) == ("media", bare(media))
    # The caption's id is a comment id: only the owner may delete it, and then there is none.
    assert error(fan.delete(f"media/{media['id']}/comments/{caption['id']}")) == (400, "APINotAllowedError")
    assert kevin.delete(f"media/{media['id']}/comments/{caption['id']}").status_code == 200
    assert fan.data(f"media/{media['id']}/comments") == [comment]
    after = fan.data(f"media/{media['id']}")
    assert (after["caption"], after["comments"]) == (None, {"count": 1, "data": [comment]})

    plain = kevin.post_photo(jpeg(200, 200))
    assert plain["caption"] is None
    assert kevin.data(f"media/{plain['id']}/comments") == []


# ------------------------------------------------------------------------------ 6. users_in_photo


def short_user(viewer: Account, person: Account) -> dict[str, Any]:
    """The short user object v1 embeds, as the user endpoint shows the person."""
    full = viewer.data(f"users/{person.id}")
    return {key: full[key] for key in ("id", "username", "full_name", "profile_picture")}


def tagged_people(media: dict[str, Any]) -> list[tuple[str, float, float]]:
    return [(t["user"]["id"], t["position"]["x"], t["position"]["y"]) for t in media["users_in_photo"]]


def test_users_in_photo_set_at_upload_and_shown_everywhere(signup: Any) -> None:
    kevin, mike, nina, viewer = signup("kevin"), signup("mike"), signup("nina"), signup("viewer")
    people = [
        {"user": {"id": mike.id}, "position": {"x": 0.3, "y": 0.6}},  # v1's own shape
        {"user_id": int(nina.id), "x": 1, "y": 0},  # the flat one
    ]
    media = kevin.post_photo(jpeg(200, 200), users_in_photo=json.dumps(people))
    assert media["users_in_photo"] == [
        {"user": short_user(viewer, mike), "position": {"x": 0.3, "y": 0.6}},
        {"user": short_user(viewer, nina), "position": {"x": 1.0, "y": 0.0}},
    ]
    expected = [(mike.id, 0.3, 0.6), (nina.id, 1.0, 0.0)]
    assert tagged_people(mike.data(f"media/{media['id']}")) == expected  # the tagged see themselves
    assert tagged_people(viewer.data(f"users/{kevin.id}/media/recent")[0]) == expected
    # A block hides the tagged person from the other, as in likes and comments.
    assert nina.post(f"users/{viewer.id}/relationship", action="block").status_code == 200
    assert tagged_people(viewer.data(f"media/{media['id']}")) == expected[:1]


def test_bad_users_in_photo_are_refused_and_nothing_is_written(signup: Any) -> None:
    kevin, mike, blocker = signup("kevin"), signup("mike"), signup("blocker")
    assert blocker.post(f"users/{kevin.id}/relationship", action="block").status_code == 200
    photo = jpeg(200, 200)

    def at(user_id: object, x: object = 0.5, y: object = 0.5) -> str:
        return json.dumps([{"user_id": user_id, "x": x, "y": y}])

    refused(kevin.upload(photo, users_in_photo="mike at 0.3"), "users_in_photo", "JSON")
    refused(kevin.upload(photo, users_in_photo=json.dumps({"user_id": mike.id})), "users_in_photo")
    refused(kevin.upload(photo, users_in_photo=at("9" * 18)), "no user with id 999999999999999999")
    refused(kevin.upload(photo, users_in_photo=at(blocker.id)), f"no user with id {blocker.id}")
    refused(kevin.upload(photo, users_in_photo=at("mike")), "user_id")
    refused(kevin.upload(photo, users_in_photo=at(mike.id, x=1.5)), "0 to 1")
    refused(kevin.upload(photo, users_in_photo=at(mike.id, y=-0.1)), "0 to 1")
    refused(kevin.upload(photo, users_in_photo=at(mike.id, x="0.5")), "0 to 1")
    refused(kevin.upload(photo, users_in_photo=at(mike.id, x=True)), "0 to 1")
    twice = json.dumps([{"user_id": mike.id, "x": 0.1, "y": 0.1}, {"user_id": mike.id, "x": 0.2, "y": 0.2}])
    refused(kevin.upload(photo, users_in_photo=twice), "twice")
    crowd = json.dumps([{"user_id": str(n), "x": 0.5, "y": 0.5} for n in range(1, 23)])
    refused(kevin.upload(photo, users_in_photo=crowd), "at most 20")
    assert kevin.data("users/self")["counts"]["media"] == 0
    assert kevin.data("users/self/media/recent") == []
