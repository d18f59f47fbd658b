"""Profile pictures: set and removed by the mobile app, served by the CDN, in every user object at once."""

import io
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings
from django.db import DatabaseError
from PIL import Image

from photos import storage
from photos.storage import s3_client
from tests.conftest import Stack, wait_for
from tests.photos.images import jpeg, png
from tests.v1 import Account, error
from users import actions
from users.models import AccountDeletion, DeletionStep, User


def default_picture() -> str:
    return f"{settings.CDN_URL}/profiles/anonymousUser.jpg"


def picture_size(url: str) -> tuple[str, tuple[int, int]]:
    """GET the picture from the CDN; return its format and size."""
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, (url, response.status_code)
    image = Image.open(io.BytesIO(response.content))
    return str(image.format), image.size


def object_exists(url: str) -> bool:
    key = urlsplit(url).path.lstrip("/")
    listed = s3_client().list_objects_v2(Bucket=settings.S3_BUCKET, Prefix=key)
    return bool(listed.get("KeyCount", 0))


def pictures_stored() -> int:
    listed = s3_client().list_objects_v2(Bucket=settings.S3_BUCKET, Prefix="p/", MaxKeys=1000)
    return int(listed.get("KeyCount", 0))


def test_an_account_without_a_picture_shows_the_default_one_served_by_the_cdn(signup: Any) -> None:
    kevin: Account = signup("kevin")
    assert kevin.data("users/self")["profile_picture"] == default_picture()
    assert picture_size(default_picture()) == ("JPEG", (150, 150))


def test_a_new_picture_is_in_every_user_object_on_every_app_server_at_once(
    signup: Any, healthy_stack: Stack
) -> None:
    kevin: Account = signup("kevin")
    bob: Account = signup("bob")
    media = kevin.post_photo(jpeg(320, 320), caption="pier")
    assert bob.post(f"media/{media['id']}/comments", text="nice").status_code == 200
    assert kevin.post(f"media/{media['id']}/comments", text="thanks").status_code == 200
    # Warm the profile cache on both app servers with the default picture.
    assert {bob.data(f"users/{kevin.id}")["profile_picture"] for _ in range(4)} == {default_picture()}

    response = kevin.set_profile_picture(jpeg(800, 600, color=(20, 160, 90)))
    assert response.status_code == 200, response.text
    url = response.json()["data"]["profile_picture"]
    assert url.startswith(f"{settings.CDN_URL}/p/")
    assert url.endswith("/profile_picture.jpg")
    assert picture_size(url) == ("JPEG", (150, 150))

    reads = [bob.get(f"users/{kevin.id}") for _ in range(4)]
    assert {r.headers["X-Served-By"] for r in reads} == {"app-1", "app-2"}
    assert {r.json()["data"]["profile_picture"] for r in reads} == {url}
    assert kevin.data("users/self")["profile_picture"] == url
    shown = bob.data(f"media/{media['id']}")
    assert shown["user"]["profile_picture"] == url
    by_author = {c["from"]["id"]: c["from"]["profile_picture"] for c in shown["comments"]["data"]}
    assert by_author == {bob.id: default_picture(), kevin.id: url}
    assert [u["profile_picture"] for u in bob.data("users/search", q=kevin.username)] == [url]

    # A new picture replaces the old one, whose object and CDN copy go.
    second = kevin.set_profile_picture(png(300, 300)).json()["data"]["profile_picture"]
    assert second != url
    assert {bob.data(f"users/{kevin.id}")["profile_picture"] for _ in range(4)} == {second}
    assert not object_exists(url)
    assert requests.get(url, timeout=10).status_code == 404

    # Removing it brings the default back everywhere.
    removed = kevin.delete("accounts/profile_picture")
    assert removed.status_code == 200, removed.text
    assert removed.json()["data"]["profile_picture"] == default_picture()
    assert {bob.data(f"users/{kevin.id}")["profile_picture"] for _ in range(4)} == {default_picture()}
    assert bob.data(f"media/{media['id']}")["user"]["profile_picture"] == default_picture()
    assert not object_exists(second)
    assert requests.get(second, timeout=10).status_code == 404


def test_bad_pictures_are_refused_by_name_and_change_nothing(signup: Any) -> None:
    kevin: Account = signup("kevin")
    url = kevin.set_profile_picture(jpeg(300, 300)).json()["data"]["profile_picture"]
    stored = pictures_stored()
    gif = io.BytesIO()
    Image.new("RGB", (300, 300)).save(gif, "GIF")
    cases = {
        "Missing required file: photo": kevin.set_profile_picture(None),
        "GIF image": kevin.set_profile_picture(gif.getvalue(), filename="me.gif"),
        "at least 150 on each side": kevin.set_profile_picture(jpeg(120, 400)),
        "truncated or corrupt": kevin.set_profile_picture(jpeg(300, 300)[:400]),
        "not a JPEG or PNG": kevin.set_profile_picture(b"hello, world"),
        "multipart/form-data": kevin.post("accounts/profile_picture", photo="not a file"),
    }
    for needle, response in cases.items():
        assert error(response) == (400, "APIInvalidParametersError"), (needle, response.text)
        assert needle in response.json()["meta"]["error_message"], (needle, response.text)
    assert kevin.data("users/self")["profile_picture"] == url
    assert pictures_stored() == stored


def test_deleting_the_account_deletes_its_picture(signup: Any) -> None:
    kevin: Account = signup("kevin")
    url = kevin.set_profile_picture(jpeg(300, 300)).json()["data"]["profile_picture"]
    assert picture_size(url)[0] == "JPEG"  # the CDN holds a copy to purge
    assert kevin.post("accounts/delete", password="kodachrome-64").status_code == 200

    def done() -> bool:
        record = AccountDeletion.objects.filter(user_id=int(kevin.id)).first()
        return record is not None and record.step == DeletionStep.DONE

    wait_for(done, timeout=60)
    assert not object_exists(url)
    assert requests.get(url, timeout=10).status_code == 404


def test_a_failure_before_the_commit_deletes_the_new_object_and_keeps_the_old_picture(
    signup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    kevin: Account = signup("kevin")
    url = kevin.set_profile_picture(jpeg(300, 300)).json()["data"]["profile_picture"]
    stored: list[str] = []
    real_put = storage.put_object

    def recording_put(*, key: str, data: bytes, content_type: str) -> None:
        real_put(key=key, data=data, content_type=content_type)
        stored.append(key)

    def failing(*user_ids: int) -> None:
        raise DatabaseError("the main database went away before the commit")

    monkeypatch.setattr("users.actions.put_object", recording_put)
    monkeypatch.setattr("users.actions.forget_profiles_on_commit", failing)
    with pytest.raises(DatabaseError):
        actions.check_set_profile_picture(user=User.objects.get(id=int(kevin.id)), photo=jpeg(300, 300))
    assert len(stored) == 1
    assert not object_exists(f"{settings.CDN_URL}/{stored[0]}")
    assert kevin.data("users/self")["profile_picture"] == url
    assert object_exists(url)
