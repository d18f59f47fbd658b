"""The request forms v1 clients of the era sent, through nginx: the .json suffix,
tokens in a form body, _method=DELETE, JSONP, count=0 and oversized counts,
and the documented trailing slashes."""

import hashlib
import hmac
import json
import re
from dataclasses import replace
from typing import Any

import pytest
import requests
from oauth2_provider.models import AccessToken

from instagram.crypto import encrypt
from oauth.actions import check_register_client
from subscriptions.models import Subscription, SubscriptionObject
from tests.conftest import Stack
from tests.oauth.conftest import PASSWORD, register
from tests.photos.images import jpeg
from tests.v1 import Account, error


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
    # Only the caption is left: the owner's first comment (v1).
    assert [c["text"] for c in author.data(f"media/{media_id}/comments")] == ["suffix"]


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
    assert [c["text"] for c in data(f"media/{shown}/comments")] == [f"open #{tag}", "first"]  # caption first
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


def sign(secret: str, endpoint: str, params: dict[str, str]) -> str:
    """v1's sig, computed here from its documented form (not with the server's code)."""
    message = endpoint + "".join(f"|{name}={params[name]}" for name in sorted(params))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def test_an_app_that_enforces_signed_requests_gets_only_signed_calls_through(
    healthy_stack: Stack, http: requests.Session, signup: Any
) -> None:
    owner, user = signup("sigo"), signup("sigu")
    media_id = owner.post_photo(jpeg(160, 160))["id"]
    app, secret = check_register_client(
        name="Signed app", redirect_uri="https://signed.example.com/cb", enforce_signed_requests=True
    )
    signed = user.with_token(scope="basic likes", application=app)
    base, token = f"{healthy_stack.api}/v1", signed.token

    # A GET with its parameters, signed over all of them.
    params = {"access_token": token, "count": "5"}
    ok = http.get(
        f"{base}/users/self/feed", params={**params, "sig": sign(secret, "/users/self/feed", params)}
    )
    assert ok.status_code == 200, ok.text
    # The same with the .json suffix a client adds: the endpoint is the path as sent.
    suffixed = {**params, "sig": sign(secret, "/users/self/feed.json", params)}
    assert http.get(f"{base}/users/self/feed.json", params=suffixed).status_code == 200

    # A POST signed with its form body (sig in the body too), and the older header form.
    body = {"access_token": token}
    endpoint = f"/media/{media_id}/likes"
    liked = http.post(f"{base}{endpoint}", data={**body, "sig": sign(secret, endpoint, body)})
    assert liked.status_code == 200, liked.text
    address = "203.0.113.7"
    header = f"{address}|{hmac.new(secret.encode(), address.encode(), hashlib.sha256).hexdigest()}"
    unliked = http.delete(
        f"{base}{endpoint}", params={"access_token": token}, headers={"X-Insta-Forwarded-For": header}
    )
    assert unliked.status_code == 200, unliked.text
    assert owner.data(f"media/{media_id}")["likes"]["count"] == 0

    # Unsigned, wrongly signed, signed for other parameters: refused, and nothing written.
    for attempt in [
        http.post(f"{base}{endpoint}", data=body),
        http.post(f"{base}{endpoint}", data={**body, "sig": "0" * 64}),
        http.get(f"{base}/users/self/feed", params={**params, "sig": sign(secret, "/users/self/feed", body)}),
        http.post(f"{base}{endpoint}", data=body, headers={"X-Insta-Forwarded-For": f"{address}|{'0' * 64}"}),
        http.post(f"{base}{endpoint}", data={**body, "sig": sign("not-the-secret", endpoint, body)}),
    ]:
        assert attempt.status_code == 403, attempt.text
        meta = attempt.json()["meta"]
        assert meta["error_type"] == "OAuthForbiddenException"
        assert meta["error_message"].startswith("Invalid signed-request")
    assert owner.data(f"media/{media_id}")["likes"]["count"] == 0

    # A public read with the client_id alone is signed as well.
    query = {"client_id": app.client_id}
    assert http.get(f"{base}/media/popular", params=query).status_code == 403
    read = http.get(f"{base}/media/popular", params={**query, "sig": sign(secret, "/media/popular", query)})
    assert read.status_code == 200, read.text

    # An app that does not enforce signing is not checked: a wrong sig changes nothing.
    plain = user.with_token(scope="basic", application=register().application)
    assert plain.get("users/self", sig="0" * 64).status_code == 200


def test_geography_media_recent_is_the_apps_own_circle(signup: Any, http: requests.Session) -> None:
    alice, carol = signup("alice"), signup("carol", private=True)
    here = {"lat": "48.8584", "lng": "2.2945"}
    inside = alice.post_photo(jpeg(320, 320), **here)
    hidden = carol.post_photo(jpeg(320, 320), **here)
    far = alice.post_photo(jpeg(320, 320), lat="48.9584", lng="2.2945")
    app = register().application
    geography = Subscription.objects.create(
        application=app,
        object=SubscriptionObject.GEOGRAPHY,
        latitude=48.8584,
        longitude=2.2945,
        radius=500,
        callback_url="https://public.example/hook",
        client_secret=encrypt("unused"),
    )
    path = f"geographies/{geography.id}/media/recent"
    response = anonymous(http, alice.base, app.client_id, path)
    assert response.status_code == 200, response.text
    ids = [m["id"] for m in response.json()["data"]]
    assert inside["id"] in ids
    assert hidden["id"] not in ids
    assert far["id"] not in ids
    newer = anonymous(http, alice.base, app.client_id, path, min_id=inside["id"]).json()["data"]
    assert inside["id"] not in [m["id"] for m in newer]
    # The app's tokens read it too; another app's client_id does not find it.
    assert inside["id"] in [m["id"] for m in alice.with_token(scope="basic", application=app).data(path)]
    assert error(anonymous(http, alice.base, register().client_id, path)) == (404, "APINotFoundError")
    assert error(anonymous(http, alice.base, app.client_id, "geographies/x1/media/recent")) == (
        404,
        "APINotFoundError",
    )


def anonymous(
    http: requests.Session, base: str, client_id: str, path: str, **params: Any
) -> requests.Response:
    """A public read with the app's client_id alone."""
    return http.get(f"{base}/v1/{path}", params={"client_id": client_id, **params}, timeout=15)
