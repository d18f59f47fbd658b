"""Posting a photo and everything done to it, end to end through nginx, the CDN and S3."""

import io
import threading
from typing import Any

import requests
from django.conf import settings
from PIL import Image

from photos.refs import shortcode
from photos.storage import s3_client
from tests.conftest import Stack
from tests.photos.images import gps_jpeg, jpeg
from tests.v1 import error

SIZES = {"thumbnail": 150, "low_resolution": 306, "standard_resolution": 612}


def cdn_path(url: str) -> str:
    return url.split("/", 3)[3]


def object_exists(key: str) -> bool:
    try:
        s3_client().head_object(Bucket=settings.S3_BUCKET, Key=key)
    except s3_client().exceptions.ClientError:
        return False
    return True


def test_upload_returns_a_v1_media_object(signup: Any) -> None:
    kevin = signup("kevin")
    media = kevin.post_photo(jpeg(), caption="First #sunset at the pier @nobody", filter="X-Pro II")
    media_id, _, owner = media["id"].partition("_")
    assert owner == kevin.id
    assert media_id.isdigit()
    assert media["type"] == "image"
    assert media["filter"] == "X-Pro II"
    assert media["user"]["id"] == kevin.id
    assert media["user"]["username"] == kevin.username
    assert media["caption"]["text"] == "First #sunset at the pier @nobody"
    assert media["caption"]["from"]["id"] == kevin.id
    assert media["created_time"].isdigit()
    assert media["tags"] == ["sunset"]
    assert media["link"].endswith(f"/p/{shortcode(int(media_id))}/")
    assert media["likes"] == {"count": 0, "data": []}
    # v1: the caption is the owner's first comment, under its own comment id.
    assert media["caption"]["id"] not in (media_id, media["id"])
    assert media["comments"] == {"count": 1, "data": [media["caption"]]}
    assert media["user_has_liked"] is False
    assert media["users_in_photo"] == []
    assert media["location"] is None
    assert set(media["images"]) == set(SIZES)
    for name, size in SIZES.items():
        assert media["images"][name]["width"] == size == media["images"][name]["height"]
        assert set(media["images"][name]) == {"url", "width", "height"}
        assert media["images"][name]["url"].startswith(settings.CDN_URL)
    assert kevin.data("users/self")["counts"]["media"] == 1


def test_renditions_come_from_the_cdn_square_stripped_and_cached(signup: Any, stack: Stack) -> None:
    kevin = signup("kevin")
    media = kevin.post_photo(gps_jpeg())
    for name, size in SIZES.items():
        url = f"{stack.cdn}/{cdn_path(media['images'][name]['url'])}"
        first, second = requests.get(url, timeout=10), requests.get(url, timeout=10)
        assert first.status_code == 200
        assert first.headers["X-Cache"] == "MISS"
        assert second.headers["X-Cache"] == "HIT"
        assert second.content == first.content
        assert "immutable" in first.headers["Cache-Control"]
        image = Image.open(io.BytesIO(first.content))
        assert image.format == "JPEG"
        assert image.size == (size, size)
        assert not image.getexif(), "EXIF (the GPS position above all) must be stripped"
        assert b"Exif" not in first.content[:4096]


def test_a_612_square_from_the_phone_is_served_as_sent_less_its_gps(signup: Any, stack: Stack) -> None:
    # Instagram's 2011 app resized on the phone and sent 612x612; at quality 85 it is served as it came.
    exif = Image.Exif()
    exif[0x010F] = "Apple"  # Make
    exif.get_ifd(0x8825)[2] = (37.0, 46.0, 30.0)  # GPSLatitude
    upload = jpeg(612, 612, quality=85, exif=exif.tobytes())
    media = signup("kevin").post_photo(upload)
    served = {}
    for name in ("standard_resolution", "low_resolution"):
        answer = requests.get(f"{stack.cdn}/{cdn_path(media['images'][name]['url'])}", timeout=10)
        assert answer.status_code == 200
        served[name] = Image.open(io.BytesIO(answer.content))
        assert not served[name].getexif()
        assert b"Apple" not in answer.content
    assert served["standard_resolution"].tobytes() == Image.open(io.BytesIO(upload)).tobytes()
    assert served["low_resolution"].size == (306, 306)


def test_media_by_v1_id_bare_id_and_shortcode(signup: Any) -> None:
    kevin = signup("kevin")
    media = kevin.post_photo(jpeg(400, 300))
    media_id = media["id"].partition("_")[0]
    for ref in (media["id"], media_id):
        assert kevin.data(f"media/{ref}")["id"] == media["id"]
    # The user part is only a hint: another user's id, or one nobody has, names the same media and owner.
    mike = signup("mike")
    for ref in (f"{media_id}_{mike.id}", f"{media_id}_999999999999"):
        shown = kevin.data(f"media/{ref}")
        assert (shown["id"], shown["user"]["id"]) == (media["id"], kevin.id)
    assert kevin.data(f"media/shortcode/{shortcode(int(media_id))}")["id"] == media["id"]
    assert error(kevin.get("media/shortcode/not*valid")) == (404, "APINotFoundError")
    assert error(kevin.get("media/12345")) == (404, "APINotFoundError")


def test_a_retried_upload_with_the_same_key_gets_the_same_media(signup: Any) -> None:
    kevin = signup("kevin")
    first = kevin.upload(jpeg(), key="upload-7f3a", caption="once")
    again = kevin.upload(jpeg(), key="upload-7f3a", caption="once")
    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert again.json()["data"]["id"] == first.json()["data"]["id"]
    assert again.json()["data"]["images"] == first.json()["data"]["images"]
    assert kevin.data("users/self")["counts"]["media"] == 1
    assert len(kevin.data("users/self/media/recent")) == 1


def test_concurrent_retries_make_one_media(signup: Any) -> None:
    kevin = signup("kevin")
    answers: list[requests.Response] = []
    threads = [
        threading.Thread(target=lambda: answers.append(kevin.upload(jpeg(), key="race-1"))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 201], [r.text for r in answers]
    assert len({r.json()["data"]["id"] for r in answers}) == 1
    assert kevin.data("users/self")["counts"]["media"] == 1


def test_likes_are_idempotent_and_exact_under_concurrency(signup: Any) -> None:
    owner = signup("owner")
    media = owner.post_photo(jpeg(300, 300))
    fans = [signup("fan") for _ in range(6)]

    def like_twice(fan: Any) -> None:
        for _ in range(2):
            assert fan.post(f"media/{media['id']}/likes").status_code == 200

    threads = [threading.Thread(target=like_twice, args=(fan,)) for fan in fans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seen = owner.data(f"media/{media['id']}")
    assert seen["likes"]["count"] == 6
    assert len(seen["likes"]["data"]) == 4  # the newest likers, as the app showed them
    assert {u["id"] for u in owner.data(f"media/{media['id']}/likes")} == {f.id for f in fans}
    assert fans[0].data(f"media/{media['id']}")["user_has_liked"] is True
    assert [m["id"] for m in fans[0].data("users/self/media/liked")] == [media["id"]]
    assert fans[0].delete(f"media/{media['id']}/likes").status_code == 200
    assert fans[0].delete(f"media/{media['id']}/likes").status_code == 200
    assert owner.data(f"media/{media['id']}")["likes"]["count"] == 5
    assert fans[0].data(f"media/{media['id']}")["user_has_liked"] is False
    assert fans[0].data("users/self/media/liked") == []


def test_like_needs_the_likes_scope(signup: Any) -> None:
    owner, fan = signup("owner"), signup("fan")
    media = owner.post_photo(jpeg(300, 300))
    basic = fan.with_token(scope="basic")
    assert error(basic.post(f"media/{media['id']}/likes")) == (400, "OAuthPermissionsException")
    assert basic.data(f"media/{media['id']}/likes") == []


def test_comments_post_list_and_delete(signup: Any) -> None:
    owner, fan, stranger = signup("owner"), signup("fan"), signup("stranger")
    media = owner.post_photo(jpeg(300, 300))
    first = fan.post(f"media/{media['id']}/comments", text="Nice light! #goldenhour")
    assert first.status_code == 200, first.text
    comment = first.json()["data"]
    assert comment["text"] == "Nice light! #goldenhour"
    assert comment["from"]["id"] == fan.id
    second = stranger.post(f"media/{media['id']}/comments", text="wow").json()["data"]
    listed = owner.data(f"media/{media['id']}/comments")
    assert [c["id"] for c in listed] == [comment["id"], second["id"]]  # oldest first
    seen = owner.data(f"media/{media['id']}")
    assert seen["comments"]["count"] == 2
    assert [c["text"] for c in seen["comments"]["data"]] == [
        "Nice light! #goldenhour",
        "wow",
    ]

    forbidden = stranger.delete(f"media/{media['id']}/comments/{comment['id']}")
    assert error(forbidden) == (400, "APINotAllowedError")
    assert fan.delete(f"media/{media['id']}/comments/{comment['id']}").status_code == 200  # its author
    assert (
        owner.delete(f"media/{media['id']}/comments/{second['id']}").status_code == 200
    )  # the media's owner
    assert owner.data(f"media/{media['id']}")["comments"] == {"count": 0, "data": []}
    assert error(owner.delete(f"media/{media['id']}/comments/{second['id']}")) == (404, "APINotFoundError")


def test_comment_bad_input(signup: Any) -> None:
    owner = signup("owner")
    media = owner.post_photo(jpeg(300, 300))
    assert error(owner.post(f"media/{media['id']}/comments", text="  ")) == (400, "APIInvalidParametersError")
    too_long = owner.post(f"media/{media['id']}/comments", text="x" * 301)  # v1: 300 at most
    assert error(too_long) == (400, "APIInvalidParametersError")
    assert "at most 300" in too_long.text
    assert owner.data(f"media/{media['id']}")["comments"]["count"] == 0


def test_delete_removes_row_objects_cdn_copies_and_indexes(signup: Any, stack: Stack) -> None:
    kevin, other = signup("kevin"), signup("other")
    tag = f"gone{kevin.id}"
    media = kevin.post_photo(jpeg(), caption=f"#{tag}")
    urls = {name: f"{stack.cdn}/{cdn_path(image['url'])}" for name, image in media["images"].items()}
    for url in urls.values():
        requests.get(url, timeout=10)
        assert requests.get(url, timeout=10).headers["X-Cache"] == "HIT"
    assert kevin.data(f"tags/{tag}")["media_count"] == 1

    assert error(other.delete(f"media/{media['id']}")) == (400, "APINotAllowedError")
    assert kevin.delete(f"media/{media['id']}").status_code == 200
    assert error(kevin.get(f"media/{media['id']}")) == (404, "APINotFoundError")
    for url in urls.values():
        assert not object_exists(cdn_path(url))
        assert requests.get(url, timeout=10).status_code == 404, "the CDN still serves a deleted photo"
    assert kevin.data("users/self")["counts"]["media"] == 0
    assert kevin.data(f"tags/{tag}")["media_count"] == 0
    assert kevin.data(f"tags/{tag}/media/recent") == []


def test_recent_media_pages_with_next_url(signup: Any, http: requests.Session) -> None:
    kevin = signup("kevin")
    posted = [kevin.post_photo(jpeg(200, 200), caption=str(n))["id"] for n in range(3)]
    first = kevin.get("users/self/media/recent", count=2).json()
    assert [m["id"] for m in first["data"]] == posted[:0:-1]
    follow = http.get(first["pagination"]["next_url"], timeout=10).json()
    assert [m["id"] for m in follow["data"]] == [posted[0]]
    assert follow["pagination"] == {}
    assert kevin.data(f"users/{kevin.id}/media/recent", min_id=posted[0].partition("_")[0]) == kevin.data(
        "users/self/media/recent", count=2
    )
