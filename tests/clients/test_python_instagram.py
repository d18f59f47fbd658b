"""python-instagram 1.3.2, Instagram's own Python client for API v1, unmodified, against the stack.

The client appends `.json` to every path, sends the token in the query string
and POST parameters in a form body, deletes likes and comments with DELETE,
signs with `sig` when it knows the app's secret, and builds its User, Media,
Comment and Relationship objects from our responses. A third-party app
written with it must work unchanged: every call here goes through nginx.
"""

import json
import os
import random
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from instagram.crypto import encrypt
from oauth.actions import check_register_client
from subscriptions.models import Subscription, SubscriptionObject
from tests.conftest import ROOT, Stack
from tests.oauth.conftest import PASSWORD, Client, register
from tests.photos.images import jpeg
from tests.photos.test_video import clip
from tests.subscriptions.conftest import CallbackServer, callback  # noqa: F401 (the fixture)
from tests.v1 import Account, sign_up

DRIVER = Path(__file__).with_name("python_instagram_driver.py")
CLIENTS = ROOT / ".venv" / "clients"
SCOPES = ["basic", "likes", "comments", "relationships"]

Run = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


@pytest.fixture
def python_instagram(healthy_stack: Stack) -> Run:
    """Run steps through the client in its own interpreter; return one result per step."""
    missing = "python-instagram is missing: run deploy/stack.py up"
    assert (CLIENTS / "instagram" / "client.py").exists(), missing
    host = f"127.0.0.1:{healthy_stack.profile.nginx}"

    def run(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        result = subprocess.run(
            # -P: this repository's own `instagram` package stays off the path.
            [sys.executable, "-P", str(DRIVER)],
            input=json.dumps({"host": host, "protocol": "http", "steps": steps}),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=CLIENTS,
            env={**os.environ, "PYTHONPATH": str(CLIENTS)},
            check=False,
        )
        assert result.returncode == 0, result.stderr
        results: list[dict[str, Any]] = json.loads(result.stdout)
        return results

    return run


def ok(result: dict[str, Any]) -> Any:
    assert "ok" in result, result
    return result["ok"]


def third_party_token(run: Run, app: Client, account: Account) -> str:
    """Sign `account` in to `app` the way the client does it: xAuth, its password grant."""
    (result,) = run(
        [
            {
                "call": "exchange_xauth_login_for_access_token",
                "args": [account.username, PASSWORD, SCOPES],
                "client_id": app.client_id,
                "client_secret": app.secret,
                "redirect_uri": app.redirect_uri,
            }
        ]
    )
    token, user = ok(result)
    assert user["username"] == account.username
    assert user["id"] == account.id
    return str(token)


@pytest.fixture
def scene(healthy_stack: Stack, http: requests.Session, python_instagram: Run) -> dict[str, Any]:
    """Alice posts three tagged photos; Bob follows her and signs in to a third-party app."""
    alice = sign_up(healthy_stack.api, http, prefix="pyiga")
    bob = sign_up(healthy_stack.api, http, prefix="pyigb")
    tag = f"era{alice.id}"
    media = [
        alice.post_photo(jpeg(320, 320), caption=f"Number {n} #{tag}")["id"] for n in range(3)
    ]  # oldest first
    bob.act(alice, "follow")
    app = register(name="Era app", trusted=True)  # xAuth: v1 allowed the password grant to approved apps
    token = third_party_token(python_instagram, app, bob)
    return {"alice": alice, "bob": bob, "tag": tag, "media": media, "app": app, "token": token}


def as_bob(scene: dict[str, Any], call: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return {
        "call": call,
        "args": list(args),
        "kwargs": kwargs,
        "client_id": scene["app"].client_id,
        "access_token": scene["token"],
    }


def test_reads_build_the_clients_objects(python_instagram: Run, scene: dict[str, Any]) -> None:
    alice, bob, tag, media = scene["alice"], scene["bob"], scene["tag"], scene["media"]
    newest = media[-1]
    shortcode = alice.data(f"media/{newest}")["link"].rstrip("/").rsplit("/", 1)[-1]
    results = python_instagram(
        [
            as_bob(scene, "user"),
            as_bob(scene, "user", alice.id),
            as_bob(scene, "user_media_feed", count=2),
            as_bob(scene, "user_recent_media", user_id=alice.id, count=2),
            as_bob(scene, "media", newest),
            as_bob(scene, "media_shortcode", shortcode),
            as_bob(scene, "media_comments", newest),
            as_bob(scene, "media_likes", newest),
            as_bob(scene, "user_search", q=alice.username),
            as_bob(scene, "user_follows"),
            as_bob(scene, "user_followed_by", user_id=alice.id),
            as_bob(scene, "user_relationship", user_id=alice.id),
            as_bob(scene, "tag", tag),
            as_bob(scene, "tag_search", q=tag),
            as_bob(scene, "tag_recent_media", tag_name=tag, count=10),
            as_bob(scene, "media_popular"),
            as_bob(scene, "user_liked_media"),
        ]
    )
    (
        me,
        her,
        feed,
        recent,
        one,
        by_code,
        comments,
        likes,
        search,
        follows,
        followers,
        relationship,
        tag_info,
        tags,
        tagged,
        popular,
        liked,
    ) = map(ok, results)

    assert me["__class__"] == "User"
    assert me["username"] == bob.username
    assert her["username"] == alice.username
    assert her["counts"]["media"] == 3

    page, next_url = feed
    assert [m["id"] for m in page] == [media[2], media[1]]
    assert all(m["__class__"] == "Media" and m["user"]["username"] == alice.username for m in page)
    assert next_url

    page, next_url = recent
    assert [m["id"] for m in page] == [media[2], media[1]]
    (rest,) = python_instagram([as_bob(scene, "user_recent_media", user_id=alice.id, with_next_url=next_url)])
    assert [m["id"] for m in ok(rest)[0]] == [media[0]]

    assert one["caption"]["text"] == f"Number 2 #{tag}"
    assert one["images"]["standard_resolution"]["url"].startswith("http")
    assert one["like_count"] == 0
    assert one["comment_count"] == 1  # the caption: the owner's first comment (v1)
    assert by_code["id"] == newest
    assert [(c["id"], c["text"]) for c in comments] == [(one["caption"]["id"], f"Number 2 #{tag}")]
    assert likes == []
    assert alice.username in [u["username"] for u in search]
    assert [u["username"] for u in follows[0]] == [alice.username]
    assert [u["username"] for u in followers[0]] == [bob.username]
    assert relationship["outgoing_status"] == "follows"
    assert tag_info["name"] == tag
    assert tag_info["media_count"] == 3
    assert tag in [t["name"] for t in tags[0]]
    assert [m["id"] for m in tagged[0]] == media[::-1]
    assert isinstance(popular, list)
    assert liked == [[], None]


def test_writes_as_the_client_sends_them(python_instagram: Run, scene: dict[str, Any]) -> None:
    alice, bob, media = scene["alice"], scene["bob"], scene["media"]
    target = media[0]
    like, after_like = python_instagram(
        [as_bob(scene, "like_media", target), as_bob(scene, "media_likes", target)]
    )
    assert ok(like) == []  # the client's "empty" response
    assert [u["username"] for u in ok(after_like)] == [bob.username]
    assert alice.data(f"media/{target}")["likes"]["count"] == 1

    comment, comments = python_instagram(
        [
            as_bob(scene, "create_media_comment", target, "Lovely light"),
            as_bob(scene, "media_comments", target),
        ]
    )
    ok(comment)
    caption, posted = ok(comments)
    assert caption["text"] == f"Number 0 #{scene['tag']}"
    assert posted["__class__"] == "Comment"
    assert posted["text"] == "Lovely light"
    assert posted["user"]["username"] == bob.username

    unlike, remove = python_instagram(
        [as_bob(scene, "unlike_media", target), as_bob(scene, "delete_comment", target, posted["id"])]
    )
    ok(unlike)
    ok(remove)
    counts = alice.data(f"media/{target}")
    assert counts["likes"]["count"] == 0
    assert counts["comments"]["count"] == 1  # the caption stays

    unfollow, relationship = python_instagram(
        [
            as_bob(scene, "unfollow_user", user_id=alice.id),
            as_bob(scene, "user_relationship", user_id=alice.id),
        ]
    )
    assert ok(unfollow)[0]["outgoing_status"] == "none"
    assert ok(relationship)["outgoing_status"] == "none"
    assert bob.data(f"users/{alice.id}/relationship")["outgoing_status"] == "none"


def test_errors_reach_the_client_as_its_api_errors(python_instagram: Run, scene: dict[str, Any]) -> None:
    alice = scene["alice"]
    bad_token = {**as_bob(scene, "user"), "access_token": "not-a-token"}
    missing = as_bob(scene, "media", "1_1")
    private_owner = sign_up(alice.base, alice.http, prefix="pyigp")
    assert private_owner.post("accounts/edit", is_private="true").status_code == 200
    hidden = private_owner.post_photo(jpeg(160, 160))["id"]
    results = python_instagram([bad_token, missing, as_bob(scene, "media", hidden)])
    assert results[0]["api_error"][:2] == [400, "OAuthAccessTokenException"]
    assert results[1]["api_error"][0] in (400, 404)
    assert results[2]["api_error"][:2] == [400, "APINotAllowedError"]


def test_signed_requests_and_client_id_reads(python_instagram: Run, scene: dict[str, Any]) -> None:
    """The client signs when it is given the secret; an app that enforces signing needs it."""
    alice, bob, media = scene["alice"], scene["bob"], scene["media"]
    app, secret = check_register_client(
        name="Signed era app",
        redirect_uri="https://signed-era.example.com/cb",
        trusted=True,
        enforce_signed_requests=True,
    )
    client = Client(application=app, secret=secret)
    token = third_party_token(python_instagram, client, bob)  # the token endpoint takes the secret anyway

    def step(call: str, *args: Any, signed: bool, **kwargs: Any) -> dict[str, Any]:
        return {
            "call": call,
            "args": list(args),
            "kwargs": kwargs,
            "client_id": app.client_id,
            "client_secret": secret if signed else None,
            "access_token": token,
        }

    # Calls without parameters of their own: python-instagram 1.3.2 on Python 3
    # signs other parameters as b'...' (it encodes them to bytes first), a bug
    # of the client that real v1 refused the same way.
    results = python_instagram(
        [
            step("user", signed=True),
            step("media", media[0], signed=True),
            step("like_media", media[0], signed=True),
            step("unlike_media", media[0], signed=True),
            step("user", signed=False),
            step("like_media", media[0], signed=False),
        ]
    )
    assert ok(results[0])["username"] == bob.username
    assert ok(results[1])["id"] == media[0]
    ok(results[2])
    ok(results[3])
    for refused in results[4:]:
        assert refused["api_error"][:2] == [403, "OAuthForbiddenException"], refused
    assert alice.data(f"media/{media[0]}")["likes"]["count"] == 0

    # A client_id alone: the client's app-level calls, public content only.
    (popular, one) = python_instagram(
        [
            {"call": "media_popular", "client_id": scene["app"].client_id},
            {"call": "media", "args": [media[1]], "client_id": scene["app"].client_id},
        ]
    )
    assert isinstance(ok(popular), list)
    assert ok(one)["id"] == media[1]


def test_places_requests_and_subscriptions(
    python_instagram: Run,
    scene: dict[str, Any],
    callback: CallbackServer,  # noqa: F811 (the fixture)
) -> None:
    """The rest of the client's calls: places, geographies, follow requests, blocks, real-time."""
    alice, bob, app = scene["alice"], scene["bob"], scene["app"]
    pier = {"lat": "37.8087", "lng": "-122.4098"}
    name = f"Pier 39 {scene['tag']}"  # a place of its own: the same name at the same spot is one place
    placed = alice.post_photo(jpeg(320, 320), caption="On the pier", location_name=name, **pier)
    place_id = placed["location"]["id"]
    geography = Subscription.objects.create(
        application=app.application,
        object=SubscriptionObject.GEOGRAPHY,
        latitude=float(pier["lat"]),
        longitude=float(pier["lng"]),
        radius=1000,
        callback_url="https://public.example/hook",
        client_secret=encrypt("unused"),
    )
    places = python_instagram(
        [
            as_bob(scene, "media_search", lat=pier["lat"], lng=pier["lng"], distance=100),
            as_bob(scene, "location_search", lat=pier["lat"], lng=pier["lng"]),
            as_bob(scene, "location", place_id),
            as_bob(scene, "location_recent_media", location_id=place_id),
            as_bob(scene, "geography_recent_media", geography_id=geography.id),
        ]
    )
    searched, nearby, place, at_place, in_circle = map(ok, places)
    assert placed["id"] in [m["id"] for m in searched]
    assert {p["__class__"] for p in nearby} == {"Location"}
    assert (place_id, name) in [(p["id"], p["name"]) for p in nearby]
    assert place["point"]["latitude"] == float(pier["lat"])
    assert [m["id"] for m in at_place[0]] == [placed["id"]]
    assert placed["id"] in [m["id"] for m in in_circle[0]]

    # A private account answers follow requests through the client.
    carol = sign_up(alice.base, alice.http, prefix="pyigc")
    assert carol.post("accounts/edit", is_private="true").status_code == 200
    carol_step = {
        **as_bob(scene, "user_incoming_requests"),
        "access_token": third_party_token(python_instagram, app, carol),
    }
    follow, asked, approve, block, unblock = python_instagram(
        [
            as_bob(scene, "follow_user", user_id=carol.id),
            carol_step,
            {**carol_step, "call": "approve_user_request", "kwargs": {"user_id": bob.id}},
            as_bob(scene, "block_user", user_id=carol.id),
            as_bob(scene, "unblock_user", user_id=carol.id),
        ]
    )
    assert ok(follow)[0]["outgoing_status"] == "requested"
    assert [u["username"] for u in ok(asked)] == [bob.username]
    assert ok(approve)[0]["incoming_status"] == "followed_by"
    assert ok(block)[0]["incoming_status"] == "blocked_by_you"
    assert ok(unblock)[0]["incoming_status"] == "none"
    assert (
        carol.data(f"users/{bob.id}/relationship")["incoming_status"] == "none"
    )  # the block removed the follow

    # Real-time subscriptions, with the app's secret, as the client sends them.
    secret = {"client_id": app.client_id, "client_secret": app.secret}
    created, listed = python_instagram(
        [
            {
                "call": "create_subscription",
                "kwargs": {
                    "object": "tag",
                    "object_id": scene["tag"],
                    "aspect": "media",
                    "callback_url": callback.url(),
                    "verify_token": "era",
                },
                **secret,
            },
            {"call": "list_subscriptions", **secret},
        ]
    )
    # The client hands these back unparsed: the whole envelope.
    subscription = ok(created)["data"]
    assert (subscription["object"], subscription["object_id"]) == ("tag", scene["tag"])
    assert callback.challenges[-1]["hub.verify_token"] == "era"
    assert sorted(s["id"] for s in ok(listed)["data"]) == sorted([str(geography.id), subscription["id"]])
    (deleted,) = python_instagram(
        [{"call": "delete_subscriptions", "kwargs": {"id": subscription["id"]}, **secret}]
    )
    ok(deleted)
    assert not Subscription.objects.filter(id=int(subscription["id"])).exists()


def test_the_v1_contract_as_the_client_reads_it(python_instagram: Run, scene: dict[str, Any]) -> None:
    """A foursquare venue, users_in_photo, the caption as first comment and tag paging, as an app saw them."""
    alice, bob, tag, media = scene["alice"], scene["bob"], scene["tag"], scene["media"]
    venue = secrets.token_hex(12)
    lat, lng = random.uniform(-60, -45), random.uniform(-170, 170)
    people = json.dumps([{"user": {"id": bob.id}, "position": {"x": 0.25, "y": 0.5}}])
    posted = alice.post_photo(
        jpeg(320, 320),
        caption=f"Number 3 #{tag}",
        lat=str(lat),
        lng=str(lng),
        location_name="Era venue",
        foursquare_v2_id=venue,
        users_in_photo=people,
    )
    results = python_instagram(
        [
            as_bob(scene, "location_search", foursquare_v2_id=venue),
            as_bob(scene, "media", posted["id"]),
            as_bob(scene, "media_comments", posted["id"]),
            as_bob(scene, "tag_recent_media", tag_name=tag, count=3),
            as_bob(scene, "media_search", lat=str(lat), lng=str(lng)),
        ]
    )
    places, one, comments, (first_page, next_url), nearby = map(ok, results)

    assert [(p["__class__"], p["id"], p["name"]) for p in places] == [
        ("Location", posted["location"]["id"], "Era venue")
    ]
    (tagged,) = one["users_in_photo"]
    assert tagged["__class__"] == "UserInPhoto"
    assert (tagged["user"]["username"], tagged["position"]["x"], tagged["position"]["y"]) == (
        bob.username,
        0.25,
        0.5,
    )
    assert [(c["id"], c["text"]) for c in comments] == [(one["caption"]["id"], f"Number 3 #{tag}")]
    assert [m["id"] for m in nearby] == [posted["id"]]

    # The client follows next_url to the end: every media of the tag once, newest first.
    seen = [m["id"] for m in first_page]
    while next_url:
        (page,) = python_instagram([as_bob(scene, "tag_recent_media", tag_name=tag, with_next_url=next_url)])
        items, next_url = ok(page)
        seen += [m["id"] for m in items]
        assert len(seen) <= 10
    assert seen == [posted["id"], *reversed(media)]


def test_a_video_and_a_profile_picture_read_as_the_clients_objects(
    python_instagram: Run, scene: dict[str, Any]
) -> None:
    alice = scene["alice"]
    assert alice.set_profile_picture(jpeg(300, 300)).status_code == 200
    posted = alice.upload_video(clip(), caption="waves")
    assert posted.status_code == 201, posted.text
    video = posted.json()["data"]
    (result,) = python_instagram([as_bob(scene, "media", video["id"])])
    media = ok(result)
    assert media["__class__"] == "Media"
    assert media["type"] == "video"
    assert {name: (v["__class__"], v["url"], v["width"]) for name, v in media["videos"].items()} == {
        name: ("Video", v["url"], v["width"]) for name, v in video["videos"].items()
    }
    assert media["user"]["profile_picture"] == alice.data("users/self")["profile_picture"]
    assert media["user"]["profile_picture"].endswith("/profile_picture.jpg")
