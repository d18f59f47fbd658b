"""Bad uploads and bad queries: an enveloped 400 naming the problem, nothing stored, no orphaned object."""

import io
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from django.conf import settings
from django.db import DatabaseError
from PIL import Image

from photos import actions, storage
from photos.models import Media
from photos.storage import s3_client
from sharding.routing import shard_for_user
from tests.photos.images import jpeg, png
from tests.v1 import Account, error
from users.models import User


def bucket_keys() -> set[str]:
    keys: set[str] = set()
    for page in s3_client().get_paginator("list_objects_v2").paginate(Bucket=settings.S3_BUCKET):
        keys.update(item["Key"] for item in page.get("Contents", []))
    return keys


@pytest.fixture
def kevin(signup: Any) -> Iterator[Account]:
    """An account whose uploads must all fail: at the end it has no media and the bucket no new object."""
    before = bucket_keys()
    account: Account = signup("kevin")
    yield account
    assert account.data("users/self")["counts"]["media"] == 0
    assert account.data("users/self/media/recent") == []
    assert bucket_keys() <= before, "a refused upload left objects in the bucket"


def refused(response: requests.Response, *words: str) -> None:
    assert error(response) == (400, "APIInvalidParametersError"), response.text
    message = response.json()["meta"]["error_message"]
    for word in words:
        assert word in message, message


def truncated_jpeg() -> bytes:
    whole = jpeg(800, 800)
    return whole[: len(whole) // 2]


@pytest.mark.parametrize(
    ("photo", "filename", "words"),
    [
        (b"", "empty.jpg", ["empty"]),
        (truncated_jpeg(), "cut.jpg", ["truncated"]),
        (png(20000, 20000), "huge.png", ["too many pixels", "40000000"]),
        (b"Dear diary, today I took a photo.\n" * 40, "notes.jpg", ["not a JPEG or PNG"]),
        (png(100, 100), "tiny.png", ["150"]),
    ],
    ids=["empty", "truncated-jpeg", "20000x20000-png", "text-named-jpg", "too-small"],
)
def test_photos_that_are_not_acceptable(
    kevin: Account, photo: bytes, filename: str, words: list[str]
) -> None:
    refused(kevin.upload(photo, filename=filename), *words)


def test_a_gif_is_named(kevin: Account) -> None:
    gif = io.BytesIO()
    Image.new("RGB", (300, 300), (1, 2, 3)).save(gif, "GIF")
    refused(kevin.upload(gif.getvalue(), filename="x.gif"), "GIF")


def test_upload_fields(kevin: Account) -> None:
    photo = jpeg(300, 300)
    refused(kevin.upload(photo, caption="x" * 2201), "2200")
    refused(kevin.upload(photo, caption=" ".join(f"#tag{n}x" for n in range(31))), "hashtags", "30")
    refused(kevin.upload(photo, filter="Sepia Dreams"), "filter")
    refused(kevin.upload(photo, lat="91", lng="0"), "latitude must be between -90 and 90")
    refused(kevin.upload(photo, lat="45"), "lat and lng")
    refused(kevin.upload(photo, lat="north", lng="0"), "lat must be a number")
    refused(kevin.upload(photo, location_id="999999999"), "No location with id 999999999")
    refused(kevin.upload(photo, location_name="Nowhere"), "location_name needs lat and lng")
    refused(kevin.upload(photo, share_to="twitter,myspace"), "myspace")
    refused(kevin.upload(photo, key="bad key!"), "upload key")


def test_upload_must_be_multipart_with_a_photo(kevin: Account) -> None:
    as_json = kevin.http.post(
        f"{kevin.base}/v1/media/upload",
        params={"access_token": kevin.token},
        json={"caption": "hi"},
        timeout=15,
    )
    refused(as_json, "multipart/form-data")
    refused(kevin.upload(None, caption="no photo"), "photo")


def test_queries(signup: Any) -> None:
    viewer: Account = signup("viewer")
    refused(viewer.get("media/search", lat="91", lng="0"), "latitude")
    refused(viewer.get("media/search", lat="40.7", lng="-74", distance="10000"), "distance", "5000")
    refused(viewer.get("media/search", lng="-74"), "lat")
    refused(viewer.get("locations/search", lat="40.7", lng="-181"), "longitude")
    refused(viewer.get("users/self/media/recent", count="-1"), "count")
    refused(viewer.get("users/self/media/recent", max_id="abc"), "max_id")
    refused(viewer.get("media/search", lat="40.7", lng="-74", min_timestamp="yesterday"), "min_timestamp")
    refused(viewer.get("tags/search", q=""), "q")
    refused(viewer.get("tags/%23%23%23"), "tag name")
    assert error(viewer.get("locations/abc")) == (404, "APINotFoundError")


# ------------------------------------------------ storage and database failing mid-upload


def user_of(account: Account) -> User:
    return User.objects.get(id=int(account.id))


def media_rows(user_id: int) -> int:
    with shard_for_user(user_id):
        return Media.objects.filter(user_id=user_id).count()


def test_storage_failing_mid_upload_leaves_no_row_and_no_object(
    signup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = signup("kevin")
    stored: list[str] = []
    real_put = storage.put_object

    def put_then_fail(*, key: str, data: bytes, content_type: str) -> None:
        # The renditions are stored in parallel: one of them fails, whatever the order.
        if key.endswith("/low_resolution.jpg"):
            raise ConnectionError("S3 went away during one rendition")
        real_put(key=key, data=data, content_type=content_type)
        stored.append(key)

    monkeypatch.setattr("photos.storage.put_object", put_then_fail)
    with pytest.raises(ConnectionError):
        actions.check_upload_media(owner=user_of(account), photo=jpeg(), values={}, upload_key="k1")
    assert len(stored) == 3
    assert not bucket_keys() & set(stored), "the renditions stored before the failure were left behind"
    assert media_rows(int(account.id)) == 0
    assert user_of(account).media_count == 0


def test_database_failing_after_storage_deletes_every_object(
    signup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = signup("kevin")
    stored: list[str] = []
    real_put = storage.put_object

    def recording_put(*, key: str, data: bytes, content_type: str) -> None:
        real_put(key=key, data=data, content_type=content_type)
        stored.append(key)

    def failing_create(**fields: Any) -> Media:
        raise DatabaseError("the shard's primary went away")

    monkeypatch.setattr("photos.storage.put_object", recording_put)
    monkeypatch.setattr(Media.objects, "create", failing_create)
    with pytest.raises(DatabaseError):
        actions.check_upload_media(
            owner=user_of(account), photo=jpeg(), values={"caption": "#lost"}, upload_key=None
        )
    assert len(stored) == 4  # three renditions and the original
    assert not bucket_keys() & set(stored)
    assert media_rows(int(account.id)) == 0
    assert user_of(account).media_count == 0
