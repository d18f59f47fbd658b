"""One small world, made once per module through the real sign-up and upload
endpoints, and every documented call made against it twice: through nginx over
HTTP and over HTTPS (the stack's own CA), as the clients of the era called
api.instagram.com."""

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
import requests

from tests.conformance.shapes import check, envelope
from tests.conftest import Stack, wait_until_serving
from tests.oauth.conftest import Client, register
from tests.photos.images import jpeg
from tests.v1 import Account, sign_up

PIER = {"lat": "37.8087", "lng": "-122.4098"}


@dataclass(frozen=True)
class World:
    alice: Account  # public, three photos (the first captioned, tagged, placed, liked and commented)
    bob: Account  # follows alice, likes and comments her first photo, asked to follow carol
    carol: Account  # private
    tag: str
    place: str  # the name of alice's first photo's place (each module's world its own)
    venue: dict[str, str]  # that place's foursquare and Facebook ids
    photos: list[dict[str, Any]]  # alice's, newest last
    comment_id: str
    app: Client  # a third-party app, for client_id reads

    def over(self, base: str, http: requests.Session) -> "World":
        """The same people calling through `base` with `http`."""
        moved = {
            name: replace(getattr(self, name), base=base, http=http) for name in ("alice", "bob", "carol")
        }
        return replace(self, **moved)


@pytest.fixture(scope="module")
def built(stack: Stack) -> Iterator[World]:
    with requests.Session() as http:
        wait_until_serving(stack, http)
        alice = sign_up(stack.api, http, prefix="conf_alice", full_name="Alice Liddell")
        bob = sign_up(stack.api, http, prefix="conf_bob")
        carol = sign_up(stack.api, http, prefix="conf_carol")
        assert carol.post("accounts/edit", is_private="true").status_code == 200
        tag = f"conf{uuid.uuid4().hex[:10]}"
        place = f"Pier 39 {tag}"
        venue = {  # the place as foursquare (v1 and v2) and Facebook Places know it
            "foursquare_v2_id": secrets.token_hex(12),
            "foursquare_id": str(secrets.randbelow(10**12)),
            "facebook_places_id": str(secrets.randbelow(10**15)),
        }
        first = alice.post_photo(
            jpeg(640, 640),
            caption=f"Pier at dusk #{tag}",
            filter="x-pro-ii",
            location_name=place,
            **PIER,
            **venue,
        )
        photos = [first]
        photos += [alice.post_photo(jpeg(320, 320), caption=f"#{tag}"), alice.post_photo(jpeg(320, 320))]
        bob.act(alice, "follow")
        bob.act(carol, "follow")
        assert bob.post(f"media/{photos[0]['id']}/likes").status_code == 200
        comment = bob.post(f"media/{photos[0]['id']}/comments", text="What a view")
        assert comment.status_code == 200, comment.text
        yield World(
            alice=alice,
            bob=bob,
            carol=carol,
            tag=tag,
            place=place,
            venue=venue,
            photos=photos,
            comment_id=comment.json()["data"]["id"],
            app=register(),
        )


@pytest.fixture(params=["http", "https"])
def world(request: pytest.FixtureRequest, built: World, stack: Stack) -> Iterator[World]:
    """The world, called over HTTP and again over HTTPS."""
    with requests.Session() as http:
        base = stack.api
        if request.param == "https":
            # Not from the environment (REQUESTS_CA_BUNDLE would win over the session's
            # verify): the stack's own CA, as an app would be given a real certificate's.
            http.trust_env = False
            http.verify = str(stack.tls_ca)
            base = stack.api_tls
        # What a browser sends with a form on the OAuth pages (Django checks it over HTTPS).
        http.headers["Referer"] = f"{base}/oauth/login"
        yield built.over(base, http)


def ok(response: requests.Response, data: Any, *, pagination: Any = None) -> Any:
    """Check a 200 envelope around `data` of the documented shape; return its data."""
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    check(body, envelope(data, pagination=pagination))
    return body["data"]


def public_read(world: World, path: str, **params: Any) -> requests.Response:
    """A read with the app's client_id alone, as v1 allowed for public content."""
    http = world.alice.http
    return http.get(
        f"{world.alice.base}/v1/{path}", params={"client_id": world.app.client_id, **params}, timeout=15
    )
