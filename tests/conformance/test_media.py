"""Media, comment and like endpoints, as instagram.com/developer/endpoints/media/,
/comments/ and /likes/ documented them."""

import time

import pytest

from tests.conformance.conftest import PIER, World, ok, public_read
from tests.conformance.shapes import (
    COMMENT,
    ERROR_META,
    MEDIA,
    NULL,
    SEARCHED_MEDIA,
    SHORT_USER,
    Obj,
    check,
)
from tests.photos.images import jpeg
from tests.v1 import sign_up


def test_get_media_by_id(world: World) -> None:
    photo = world.photos[0]
    media = ok(world.bob.get(f"media/{photo['id']}"), MEDIA)
    assert media["id"] == photo["id"]
    assert media["type"] == "image"
    assert media["filter"] == "X-Pro II"
    assert media["tags"] == [world.tag]
    assert media["user_has_liked"] is True
    assert media["likes"]["count"] == 1
    assert media["likes"]["data"][0]["id"] == world.bob.id
    assert media["caption"]["text"] == f"Pier at dusk #{world.tag}"
    assert media["caption"]["from"]["id"] == world.alice.id
    # The caption is the owner's first comment, with an id of its own.
    assert media["caption"]["id"] != media["id"].split("_")[0]
    assert media["comments"]["count"] == 2
    assert [c["text"] for c in media["comments"]["data"]] == [media["caption"]["text"], "What a view"]
    assert media["comments"]["data"][0]["id"] == media["caption"]["id"]
    assert media["location"]["name"] == world.place
    assert (media["location"]["latitude"], media["location"]["longitude"]) == (
        float(PIER["lat"]),
        float(PIER["lng"]),
    )
    sizes = {name: (image["width"], image["height"]) for name, image in media["images"].items()}
    assert sizes == {"thumbnail": (150, 150), "low_resolution": (306, 306), "standard_resolution": (612, 612)}
    # The media id without its owner part names the same media; a client_id alone reads it too.
    assert ok(world.bob.get(f"media/{photo['id'].split('_')[0]}"), MEDIA) == media
    assert ok(public_read(world, f"media/{photo['id']}"), MEDIA)["user_has_liked"] is False


def test_get_media_by_shortcode(world: World) -> None:
    photo = world.photos[0]
    shortcode = photo["link"].rstrip("/").rsplit("/", 1)[1]
    assert ok(world.bob.get(f"media/shortcode/{shortcode}"), MEDIA)["id"] == photo["id"]
    assert ok(public_read(world, f"media/shortcode/{shortcode}"), MEDIA)["id"] == photo["id"]


def test_media_search_with_lat_lng_distance_and_timestamps(world: World) -> None:
    near = {"lat": PIER["lat"], "lng": PIER["lng"]}
    found = ok(world.bob.get("media/search", **near, distance=100), [SEARCHED_MEDIA])
    assert world.photos[0]["id"] in [m["id"] for m in found]
    assert all(m["location"] is not None for m in found)
    created = int(world.photos[0]["created_time"])
    window = {"min_timestamp": created - 60, "max_timestamp": created + 60}
    assert world.photos[0]["id"] in [
        m["id"] for m in ok(world.bob.get("media/search", **near, **window), [SEARCHED_MEDIA])
    ]
    past = {"min_timestamp": created - 7200, "max_timestamp": created - 3600}
    assert ok(world.bob.get("media/search", **near, **past), [SEARCHED_MEDIA]) == []
    # One kilometre north is outside a 100 m circle.
    assert world.photos[0]["id"] not in [
        m["id"]
        for m in ok(
            world.bob.get("media/search", lat="37.8177", lng=PIER["lng"], distance=100), [SEARCHED_MEDIA]
        )
    ]
    assert world.photos[0]["id"] in [
        m["id"] for m in ok(public_read(world, "media/search", **near), [SEARCHED_MEDIA])
    ]


def test_media_popular(world: World) -> None:
    popular = ok(world.bob.get("media/popular"), [MEDIA])
    assert len(popular) <= 32
    check(ok(public_read(world, "media/popular"), [MEDIA]), [MEDIA])


def test_comments_list_create_and_delete(world: World) -> None:
    media_id = world.photos[1]["id"]
    made = world.bob.post(f"media/{media_id}/comments", text="Nice one")
    comment = ok(made, COMMENT)
    assert comment["text"] == "Nice one"
    assert comment["from"]["id"] == world.bob.id
    listed = ok(world.alice.get(f"media/{media_id}/comments"), [COMMENT])
    assert [c["id"] for c in listed][-1] == comment["id"]
    assert [c["id"] for c in ok(public_read(world, f"media/{media_id}/comments"), [COMMENT])] == [
        c["id"] for c in listed
    ]
    # The media's owner may remove anyone's comment; v1 answered data: null.
    assert ok(world.alice.delete(f"media/{media_id}/comments/{comment['id']}"), NULL) is None
    assert comment["id"] not in [
        c["id"] for c in ok(world.alice.get(f"media/{media_id}/comments"), [COMMENT])
    ]


def test_likes_list_like_and_unlike(world: World) -> None:
    media_id = world.photos[2]["id"]
    fan = sign_up(world.bob.base, world.bob.http, prefix="conf_liker")
    assert ok(fan.post(f"media/{media_id}/likes"), NULL) is None
    likers = ok(world.alice.get(f"media/{media_id}/likes"), [SHORT_USER])
    assert fan.id in [u["id"] for u in likers]
    assert fan.id in [u["id"] for u in ok(public_read(world, f"media/{media_id}/likes"), [SHORT_USER])]
    assert ok(fan.delete(f"media/{media_id}/likes"), NULL) is None
    assert fan.id not in [u["id"] for u in ok(world.alice.get(f"media/{media_id}/likes"), [SHORT_USER])]


def test_upload_answers_a_media_object(world: World) -> None:
    """Not in the public API (the mobile app's own call), but its answer is the v1 media object."""
    response = world.alice.upload(jpeg(320, 320), caption="upload", key=f"conf-{time.time_ns()}")
    assert response.status_code == 201, response.text
    check(response.json()["data"], MEDIA)
    assert world.alice.delete(f"media/{response.json()['data']['id']}").status_code == 200


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("x" * 301, "at most 300"),
        ("#one #two #three #four #five", "at most 4"),
        ("see http://a.example and www.b.example", "at most 1"),
        ("WHAT A VIEW", "capital letters"),
    ],
    ids=["length", "hashtags", "urls", "capitals"],
)
def test_comment_rules_of_the_documentation(world: World, text: str, problem: str) -> None:
    """POST /media/{id}/comments: v1 documented these four rules; each is a 400 naming it."""
    media_id = world.photos[2]["id"]
    before = world.alice.data(f"media/{media_id}")["comments"]["count"]
    refused = world.bob.post(f"media/{media_id}/comments", text=text)
    check(refused.json(), Obj({"meta": ERROR_META}))
    assert (refused.status_code, refused.json()["meta"]["error_type"]) == (400, "APIInvalidParametersError")
    assert problem in refused.json()["meta"]["error_message"]
    assert world.alice.data(f"media/{media_id}")["comments"]["count"] == before
    # Within the rules: four hashtags, one URL, a shout with a lower-case word, no letters at all.
    for fine in ["#one #two #three #four", "see http://a.example", "WOW, nice", "10/10 :)"]:
        made = world.bob.post(f"media/{media_id}/comments", text=fine)
        assert made.status_code == 200, made.text
        assert world.bob.delete(f"media/{media_id}/comments/{made.json()['data']['id']}").status_code == 200
