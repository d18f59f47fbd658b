"""The CDN (nginx in front of the S3 origin) serves the renditions the API hands out, and nothing else."""

import http.client
import secrets
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings

from photos.storage import s3_client
from tests.conftest import Stack
from tests.photos.images import jpeg

OTHER_ADDRESS = "127.0.0.2"  # loopback, but not an app server's address (the purge geo block)


def cdn_get(
    stack: Stack, path: str, *, source: str = "127.0.0.1", **headers: str
) -> http.client.HTTPResponse:
    """GET `path` from the CDN from the local address `source`, with the raw path (no client-side quoting)."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", stack.profile.cdn, timeout=5, source_address=(source, 0)
    )
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


@pytest.fixture
def photo(signup: Any, stack: Stack) -> dict[str, str]:
    """A freshly posted photo's rendition paths on the CDN, by name, each fetched once (cached)."""
    media = signup("cdn").post_photo(jpeg())
    paths = {name: urlsplit(image["url"]).path for name, image in media["images"].items()}
    for path in paths.values():
        assert cdn_get(stack, path).status == 200
    return paths


def origin_requests(stack: Stack, key: str) -> list[str]:
    """The request lines the S3 origin logged for `key`."""
    return [line for line in (stack.log / "s3.log").read_text().splitlines() if key in line]


def test_the_bucket_listing_and_other_paths_are_404_without_reaching_the_origin(stack: Stack) -> None:
    marker = secrets.token_hex(8)
    for path in [
        f"/?list-type=2&m={marker}",
        f"/?m={marker}",
        f"/{settings.S3_BUCKET}/?m={marker}",
        f"/m/?m={marker}",
        f"/m/{'a' * 22}/original.jpg?m={marker}",  # every photo's original stays private
        f"/m/{'a' * 22}/thumbnail.png?m={marker}",
        f"/m/{'a' * 21}/thumbnail.jpg?m={marker}",
        f"/m/{'a' * 22}/../thumbnail.jpg?m={marker}",
        f"/test/{marker}.jpg",
    ]:
        response = cdn_get(stack, path)
        assert response.status == 404, path
        assert response.getheader("X-Cache") is None, f"{path} reached the origin"
    assert origin_requests(stack, marker) == []


def test_a_random_well_formed_key_is_404(stack: Stack) -> None:
    response = cdn_get(stack, f"/m/{secrets.token_urlsafe(16)}/thumbnail.jpg")
    assert response.status == 404


def test_a_posted_photo_is_served_but_its_original_is_not(photo: dict[str, str], stack: Stack) -> None:
    for path in photo.values():
        response = cdn_get(stack, path)
        assert (response.status, response.getheader("X-Cache")) == (200, "HIT")
        assert response.getheader("Content-Type") == "image/jpeg"
    prefix = photo["thumbnail"].rsplit("/", 1)[0]
    s3_client().head_object(Bucket=settings.S3_BUCKET, Key=f"{prefix.lstrip('/')}/original.jpg")  # it exists
    assert cdn_get(stack, f"{prefix}/original.jpg").status == 404


def test_query_strings_never_reach_the_origin_nor_key_the_cache(photo: dict[str, str], stack: Stack) -> None:
    path = photo["standard_resolution"]
    body = requests.get(f"{stack.cdn}{path}", timeout=5).content
    for query in ["list-type=2", "acl", "versions", "uploads", "tagging", "x-id=GetObject&cb=1"]:
        response = requests.get(f"{stack.cdn}{path}?{query}", timeout=5)
        assert (response.status_code, response.headers["X-Cache"]) == (200, "HIT"), query
        assert response.content == body, query
    assert [line for line in origin_requests(stack, path.lstrip("/")) if "?" in line] == []


def test_only_get_and_head(photo: dict[str, str], stack: Stack) -> None:
    url = f"{stack.cdn}{photo['thumbnail']}"
    assert requests.head(url, timeout=5).status_code == 200
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert requests.request(method, url, data=b"x", timeout=5).status_code == 403, method


def test_purge_only_from_an_app_server_address(photo: dict[str, str], stack: Stack) -> None:
    path = photo["low_resolution"]
    refused = cdn_get(stack, path, source=OTHER_ADDRESS, **{"X-CDN-Purge": "1"})
    assert (refused.status, refused.getheader("X-Cache")) == (200, "HIT"), "a stranger bypassed the cache"
    purged = cdn_get(stack, path, **{"X-CDN-Purge": "1"})
    assert (purged.status, purged.getheader("X-Cache")) == (200, "BYPASS")
