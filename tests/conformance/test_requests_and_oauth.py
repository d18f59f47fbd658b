"""What every endpoint accepted (instagram.com/developer/endpoints/, "Structure",
"JSONP", "Deleting objects", "Pagination") and the OAuth flows of
instagram.com/developer/authentication/, over HTTP and HTTPS."""

import json
import re
from types import SimpleNamespace
from typing import Any, cast

import pytest

from tests.conformance.conftest import World, ok, public_read
from tests.conformance.shapes import ERROR_META, MEDIA, NULL, USER, Obj, check
from tests.conftest import Stack
from tests.oauth.conftest import code_for, code_grant, consent_page, decide, exchange, fragment_of, register
from users.models import User

ERROR = Obj({"meta": ERROR_META})


@pytest.mark.parametrize(
    ("call", "status", "error_type"),
    [
        (lambda w: w.bob.http.get(f"{w.bob.base}/v1/users/self", timeout=15), 400, "OAuthParameterException"),
        (
            lambda w: w.bob.http.get(
                f"{w.bob.base}/v1/users/self", params={"access_token": "nope"}, timeout=15
            ),
            400,
            "OAuthAccessTokenException",
        ),
        # v1 answered a missing object with a 400 too; we answer 404 (HTTP's word for it,
        # which caches and monitors understand) with v1's error_type, all the clients read.
        (lambda w: w.bob.get("media/1_1"), 404, "APINotFoundError"),
        (lambda w: w.bob.get("users/search"), 400, "APIInvalidParametersError"),
        (lambda w: w.bob.get(f"users/{w.carol.id}/media/recent"), 400, "APINotAllowedError"),
    ],
    ids=["no-token", "bad-token", "unknown-media", "missing-q", "private-user"],
)
def test_errors_come_in_the_meta_envelope(world: World, call: Any, status: int, error_type: str) -> None:
    response = call(world)
    body = response.json()
    check(body, ERROR)
    assert (response.status_code, body["meta"]["code"], body["meta"]["error_type"]) == (
        status,
        status,
        error_type,
    )


def test_a_json_format_suffix(world: World) -> None:
    assert ok(world.bob.get("users/self.json"), USER)["id"] == world.bob.id
    assert [
        m["id"]
        for m in ok(
            world.bob.get(f"users/{world.alice.id}/media/recent.json"),
            [MEDIA],
            pagination=Obj({}, optional={"next_url": str, "next_max_id": str}),
        )
    ] == [p["id"] for p in reversed(world.photos)]


def test_jsonp_callback(world: World) -> None:
    response = world.bob.get("users/self", callback="renderProfile")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/javascript")
    wrapped = re.fullmatch(r"(?:/\*\*/ ?)?renderProfile\((.*)\);?", response.text.strip(), re.S)
    assert wrapped, response.text[:200]
    assert json.loads(wrapped.group(1))["data"]["id"] == world.bob.id
    # An error too is wrapped and answered 200, so a <script> tag sees it.
    failed = public_read(world, "users/self", callback="cb")
    assert failed.status_code == 200
    assert '"error_type"' in failed.text
    # Only a plain JavaScript name is taken as a callback.
    assert world.bob.get("users/self", callback="alert(1)//").status_code == 400


def test_access_token_in_a_form_body_and_method_delete(world: World) -> None:
    media_id = world.photos[1]["id"]
    url = f"{world.alice.base}/v1/media/{media_id}/likes"
    assert ok(world.alice.http.post(url, data={"access_token": world.alice.token}, timeout=15), NULL) is None
    assert world.alice.id in [u["id"] for u in world.bob.data(f"media/{media_id}/likes")]
    deleted = world.alice.http.post(
        url, data={"access_token": world.alice.token, "_method": "DELETE"}, timeout=15
    )
    assert ok(deleted, NULL) is None
    assert world.alice.id not in [u["id"] for u in world.bob.data(f"media/{media_id}/likes")]


def test_server_side_flow_code_for_token(world: World, stack: Stack) -> None:
    """authorize (response_type=code) -> log in -> approve -> redirect_uri?code= -> access_token."""
    site = cast(Stack, SimpleNamespace(api=world.alice.base))
    app = register()
    user = User.objects.get(id=int(world.alice.id))
    code = code_for(world.alice.http, site, app, user, scope="basic likes", state="xyz")
    answer = exchange(world.alice.http, site, **code_grant(app, code))
    assert answer.status_code == 200, answer.text
    token = answer.json()
    assert set(token) == {"access_token", "user"}
    assert set(token["user"]) == {"id", "username", "full_name", "profile_picture"}
    me = world.alice.http.get(
        f"{world.alice.base}/v1/users/self", params={"access_token": token["access_token"]}, timeout=15
    )
    assert ok(me, USER)["id"] == world.alice.id


def test_client_side_flow_token_in_the_fragment(world: World) -> None:
    site = cast(Stack, SimpleNamespace(api=world.alice.base))
    app = register()
    page = consent_page(
        world.alice.http, site, app, User.objects.get(id=int(world.alice.id)), response_type="token"
    )
    fragment = fragment_of(decide(world.alice.http, site, page, "approve"))
    me = world.alice.http.get(
        f"{world.alice.base}/v1/users/self", params={"access_token": fragment["access_token"]}, timeout=15
    )
    assert ok(me, USER)["id"] == world.alice.id


def test_an_unknown_client_id_is_named(world: World) -> None:
    response = world.bob.http.get(
        f"{world.bob.base}/v1/media/popular", params={"client_id": "0" * 32}, timeout=15
    )
    check(response.json(), ERROR)
    assert (response.status_code, response.json()["meta"]["error_type"]) == (400, "OAuthClientException")
