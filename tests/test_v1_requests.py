"""The request forms v1 clients of the era sent, through nginx: the .json suffix,
tokens in a form body, _method=DELETE, JSONP, count=0 and oversized counts,
and the documented trailing slashes."""

import json
import re
from dataclasses import replace
from typing import Any

import pytest
import requests
from oauth2_provider.models import AccessToken

from tests.conftest import Stack
from tests.oauth.conftest import PASSWORD, register
from tests.photos.images import jpeg
from tests.v1 import Account


@pytest.fixture
def pair(signup: Any) -> tuple[Account, Account, str]:
    """An author with one photo, and a reader following them."""
    author, reader = signup("sfxa"), signup("sfxr")
    reader.act(author, "follow")
    media_id = author.post_photo(jpeg(160, 160), caption="suffix")["id"]
    return author, reader, media_id


def test_a_json_suffix_names_the_same_resource(pair: tuple[Account, Account, str]) -> None:
    author, reader, media_id = pair
    for path in ["users/self", f"users/{author.id}", f"media/{media_id}", "users/self/feed", "media/popular"]:
        plain, suffixed = reader.get(path), reader.get(f"{path}.json")
        assert suffixed.status_code == 200, (path, suffixed.text)
        assert suffixed.json()["data"] == plain.json()["data"], path
    assert reader.data("users/self.json")["username"] == reader.username
    # A suffix on an unknown path is still an unknown path, and the spec keeps its name.
    assert reader.get("users/self/nothing.json").status_code == 404
    spec = reader.http.get(f"{reader.base}/v1/openapi.json", timeout=15)
    assert spec.status_code == 200
    assert "openapi" in spec.json()


def test_the_token_may_come_in_a_form_body(pair: tuple[Account, Account, str]) -> None:
    author, reader, media_id = pair
    url = f"{reader.base}/v1/media/{media_id}/likes"
    liked = reader.http.post(url, data={"access_token": reader.token}, timeout=15)
    assert liked.status_code == 200, liked.text
    assert author.data(f"media/{media_id}")["likes"]["count"] == 1
    # Without any token, the answer names what is missing.
    refused = reader.http.post(url, data={"text": "x"}, timeout=15)
    assert refused.status_code == 400
    assert refused.json()["meta"]["error_type"] == "OAuthParameterException"


def test_method_delete_on_a_post_deletes(pair: tuple[Account, Account, str]) -> None:
    author, reader, media_id = pair
    url = f"{reader.base}/v1/media/{media_id}/likes"
    assert reader.post(f"media/{media_id}/likes").status_code == 200
    assert author.data(f"media/{media_id}")["likes"]["count"] == 1

    # _method in the query string, the token in the query string.
    response = reader.http.post(url, params={"access_token": reader.token, "_method": "DELETE"}, timeout=15)
    assert response.status_code == 200, response.text
    assert author.data(f"media/{media_id}")["likes"]["count"] == 0

    # _method and the token both in the form body.
    assert reader.post(f"media/{media_id}/likes").status_code == 200
    response = reader.http.post(url, data={"access_token": reader.token, "_method": "DELETE"}, timeout=15)
    assert response.status_code == 200, response.text
    assert author.data(f"media/{media_id}")["likes"]["count"] == 0

    # A comment deleted the same way.
    comment = reader.post(f"media/{media_id}/comments", text="soon gone").json()["data"]
    response = reader.http.post(
        f"{reader.base}/v1/media/{media_id}/comments/{comment['id']}",
        data={"access_token": reader.token, "_method": "DELETE"},
        timeout=15,
    )
    assert response.status_code == 200, response.text
    assert author.data(f"media/{media_id}/comments") == []


def jsonp(response: requests.Response, callback: str) -> dict[str, Any]:
    assert response.headers["Content-Type"].startswith("application/javascript")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    match = re.fullmatch(rf"/\*\*/{re.escape(callback)}\((.*)\);", response.text, re.DOTALL)
    assert match, response.text[:200]
    envelope: dict[str, Any] = json.loads(match.group(1))
    return envelope


def test_jsonp_wraps_the_envelope_errors_included(pair: tuple[Account, Account, str]) -> None:
    _, reader, media_id = pair
    response = reader.get(f"media/{media_id}", callback="jQuery1_7.cb")
    assert response.status_code == 200
    envelope = jsonp(response, "jQuery1_7.cb")
    assert envelope["meta"]["code"] == 200
    assert envelope["data"]["id"] == media_id

    # An error reaches the page's callback: 200 for the <script>, the real code in meta.
    missing = reader.get("media/1_1", callback="show")
    assert missing.status_code == 200
    assert jsonp(missing, "show")["meta"]["code"] in (400, 404)
    bad_token = reader.http.get(
        f"{reader.base}/v1/users/self", params={"access_token": "nope", "callback": "show"}, timeout=15
    )
    assert jsonp(bad_token, "show")["meta"]["error_type"] == "OAuthAccessTokenException"

    for hostile in ["alert(1);x", "a b", "x)(", "</script>", "a" * 300, "1abc"]:
        refused = reader.get("users/self", callback=hostile)
        assert refused.status_code == 400, hostile
        assert refused.headers["Content-Type"].startswith("application/json")
        assert "callback" in refused.json()["meta"]["error_message"]


def test_count_zero_is_the_default_and_large_counts_are_capped(signup: Any) -> None:
    author, reader = signup("cnta"), signup("cntr")
    reader.act(author, "follow")
    for _ in range(3):
        author.post_photo(jpeg(160, 160))
    assert len(reader.data("users/self/feed", count=0)) == 3
    assert len(reader.data(f"users/{author.id}/media/recent", count=100000)) == 3
    assert len(reader.data(f"users/{author.id}/media/recent", count=2)) == 2
    assert len(reader.data("users/self/follows", count=0)) == 1
    refused = reader.get("users/self/feed", count="-1")
    assert refused.status_code == 400
    assert "count" in refused.json()["meta"]["error_message"]


def test_documented_trailing_slashes(healthy_stack: Stack, http: requests.Session) -> None:
    for path in ["/oauth/access_token/", "/v1/subscriptions/"]:
        response = http.post(f"{healthy_stack.api}{path}", data={}, timeout=15)
        # The same view as without the slash: it names the missing client credentials.
        assert response.status_code == 400, (path, response.text)
        assert "client_id" in response.text
    page = http.get(f"{healthy_stack.api}/oauth/authorize/", params={"client_id": "nope"}, timeout=15)
    assert page.status_code == 400


def test_scopes_of_2015_are_granted_and_deny_ignores_a_request(
    healthy_stack: Stack, http: requests.Session, signup: Any
) -> None:
    owner, asker = signup("dnyo", private=True), signup("dnya")
    app = register(trusted=True)
    response = http.post(
        f"{healthy_stack.api}/oauth/access_token",
        data={
            "client_id": app.client_id,
            "client_secret": app.secret,
            "grant_type": "password",
            "username": owner.username,
            "password": PASSWORD,
            "scope": "public_content follower_list relationships",
        },
        timeout=15,
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    granted = set(AccessToken.objects.get(token=token).scope.split())
    assert granted == {"basic", "public_content", "follower_list", "relationships"}
    as_app = replace(owner, token=token)

    assert asker.act(owner, "follow")["outgoing_status"] == "requested"
    assert as_app.act(asker, "deny")["incoming_status"] == "none"
    assert asker.data(f"users/{owner.id}/relationship")["outgoing_status"] == "none"
    assert owner.data("users/self/requested-by") == []


def test_a_client_id_alone_reads_public_content_as_nobody(
    healthy_stack: Stack, http: requests.Session, signup: Any
) -> None:
    public, private = signup("cidpub"), signup("cidpriv", private=True)
    tag = f"cid{public.id}"
    shown = public.post_photo(jpeg(160, 160), caption=f"open #{tag}")["id"]
    hidden = private.post_photo(jpeg(160, 160), caption=f"closed #{tag}")["id"]
    public.post(f"media/{shown}/comments", text="first")
    app = register()

    def read(path: str, **params: Any) -> requests.Response:
        return http.get(
            f"{healthy_stack.api}/v1/{path}", params={"client_id": app.client_id, **params}, timeout=15
        )

    def data(path: str, **params: Any) -> Any:
        response = read(path, **params)
        assert response.status_code == 200, (path, response.text)
        assert "X-Ratelimit-Remaining" in response.headers
        return response.json()["data"]

    assert data(f"users/{public.id}")["username"] == public.username
    assert data(f"media/{shown}")["id"] == shown
    assert data(f"media/{shown}")["user_has_liked"] is False
    assert [c["text"] for c in data(f"media/{shown}/comments")] == ["first"]
    assert data(f"media/{shown}/likes") == []
    assert [m["id"] for m in data(f"users/{public.id}/media/recent")] == [shown]
    assert [m["id"] for m in data(f"tags/{tag}/media/recent")] == [shown]
    assert data(f"tags/{tag}")["media_count"] == 2
    assert public.username in [u["username"] for u in data("users/search", q=public.username)]
    assert isinstance(data("media/popular"), list)

    # A private account's content stays closed to nobody; "self" is nobody's.
    for path in [f"media/{hidden}", f"users/{private.id}/media/recent", f"media/{hidden}/comments"]:
        response = read(path)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["meta"]["error_type"] == "APINotAllowedError"
    assert read("users/self").json()["meta"]["error_type"] == "OAuthParameterException"
    # Only public reads: the feed and any write still need a user's token.
    assert read("users/self/feed").json()["meta"]["error_type"] == "OAuthParameterException"
    liked = http.post(
        f"{healthy_stack.api}/v1/media/{shown}/likes", data={"client_id": app.client_id}, timeout=15
    )
    assert liked.json()["meta"]["error_type"] == "OAuthParameterException"
    # An unknown app is named as such.
    unknown = http.get(f"{healthy_stack.api}/v1/media/popular", params={"client_id": "nope"}, timeout=15)
    assert unknown.status_code == 400
    assert unknown.json()["meta"]["error_type"] == "OAuthClientException"
