"""The local S3 server keeps its objects across a restart (deploy/s3server.py)."""

import socket
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

from photos.storage import s3_client
from tests.conftest import Stack, wait_for
from tests.photos.images import jpeg
from tests.test_cdn import cdn_get


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def stored(key: str) -> bool:
    listed = s3_client().list_objects_v2(Bucket=settings.S3_BUCKET, Prefix=key)
    return bool(listed.get("KeyCount", 0))


def test_a_photo_is_served_by_the_cdn_and_the_app_after_the_s3_server_restarts(
    signup: Any, stack: Stack
) -> None:
    account = signup("s3keep")
    media = account.post_photo(jpeg())
    paths = {name: urlsplit(image["url"]).path for name, image in media["images"].items()}
    before = {name: requests.get(f"{stack.cdn}{path}", timeout=5).content for name, path in paths.items()}
    deleted = account.post_photo(jpeg())
    assert account.delete(f"media/{deleted['id']}").status_code == 200
    deleted_key = urlsplit(deleted["images"]["thumbnail"]["url"]).path.lstrip("/")
    wait_for(lambda: not stored(deleted_key), timeout=60, interval=0.2)

    stack.ctl("restart", "s3")
    # The port opens once the recording is replayed.
    wait_for(lambda: listening(stack.profile.s3), timeout=60, interval=0.1)

    for name, path in paths.items():
        # A purge request skips the CDN's cache: the answer is the origin's.
        response = cdn_get(stack, path, **{"X-CDN-Purge": "1"})
        assert (response.status, response.getheader("X-Cache")) == (200, "BYPASS"), name
        assert requests.get(f"{stack.cdn}{path}", timeout=5).content == before[name], name
        key = path.lstrip("/")
        assert s3_client().get_object(Bucket=settings.S3_BUCKET, Key=key)["Body"].read() == before[name]
    assert account.get(f"media/{media['id']}").status_code == 200
    assert not stored(deleted_key), "a deleted photo came back"
