"""instagram-node 0.5.8, a Node.js v1 client of the era, unmodified, against the stack over HTTPS.

The library speaks only HTTPS (it calls https.request), puts the token in
the query string of GETs and DELETEs and in the form body of POSTs, and
signs every parameter when told to. Node trusts the stack's own CA through
NODE_EXTRA_CA_CERTS, as an app would trust a real certificate.
"""

import json
import os
import random
import secrets
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from instagram.crypto import encrypt
from oauth.actions import check_register_client
from subscriptions.models import Subscription, SubscriptionObject
from tests.conftest import Stack
from tests.oauth.conftest import code_for, register
from tests.photos.images import jpeg
from tests.subscriptions.conftest import CallbackServer, callback  # noqa: F401 (the fixture)
from tests.v1 import Account, sign_up
from users.models import User

FOLDER = Path(__file__).with_name("node")

Run = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


@pytest.fixture
def instagram_node(healthy_stack: Stack) -> Run:
    node = shutil.which("node")
    assert node, "node is missing: run deploy/stack.py up (it installs nodejs)"
    assert (FOLDER / "node_modules" / "instagram-node").exists(), (
        "instagram-node is missing: run deploy/stack.py up"
    )

    def run(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        plan = {"host": "https://localhost", "port": healthy_stack.profile.nginx_tls, "steps": steps}
        result = subprocess.run(
            [node, "drive.js"],
            input=json.dumps(plan),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=FOLDER,
            env={**os.environ, "NODE_EXTRA_CA_CERTS": str(healthy_stack.tls_ca)},
            check=False,
        )
        assert result.returncode == 0, result.stderr
        results: list[dict[str, Any]] = json.loads(result.stdout)
        return results

    return run


def ok(result: dict[str, Any]) -> list[Any]:
    assert "ok" in result, result
    values: list[Any] = result["ok"]
    return values


def test_reads_and_writes_over_https(healthy_stack: Stack, http: Any, instagram_node: Run) -> None:
    alice, bob = (
        sign_up(healthy_stack.api, http, prefix="nodea"),
        sign_up(healthy_stack.api, http, prefix="nodeb"),
    )
    tag = f"nodetag{alice.id}"  # its own tag: a stack that ran this test before has older #nodetag media
    media_id = alice.post_photo(jpeg(320, 320), caption=f"#{tag}")["id"]
    bob.act(alice, "follow")
    app = register(name="Node era app")
    token = bob.with_token(scope="basic likes comments relationships", application=app.application).token
    use = {"access_token": token}
    results = instagram_node(
        [
            {"use": use, "call": "user", "args": ["self"]},
            {"use": use, "call": "user_self_feed", "args": [{"count": 5}]},
            {"use": use, "call": "media", "args": [media_id]},
            {"use": use, "call": "add_like", "args": [media_id]},
            {"use": use, "call": "likes", "args": [media_id]},
            {"use": use, "call": "add_comment", "args": [media_id, "Seen from Node"]},
            {"use": use, "call": "comments", "args": [media_id]},
            {"use": use, "call": "del_like", "args": [media_id]},
            {"use": use, "call": "user_relationship", "args": [alice.id]},
            {"use": use, "call": "tag_media_recent", "args": [tag]},
        ]
    )
    me, feed, media, _, likes, _, comments, _, relationship, tagged = (ok(r) for r in results)
    assert me[0]["username"] == bob.username
    assert [m["id"] for m in feed[0]] == [media_id]
    assert media[0]["caption"]["text"] == f"#{tag}"
    assert [u["username"] for u in likes[0]] == [bob.username]
    assert [c["text"] for c in comments[0]] == [f"#{tag}", "Seen from Node"]  # the caption first (v1)
    assert comments[0][0]["id"] == media[0]["caption"]["id"]
    assert relationship[0]["outgoing_status"] == "follows"
    assert [m["id"] for m in tagged[0]] == [media_id]
    # The rate-limit headers reach the library (its remaining, limit arguments).
    assert feed[-1] > 0
    after = alice.data(f"media/{media_id}")
    assert after["likes"]["count"] == 0
    assert after["comments"]["count"] == 2  # the caption and bob's


def test_signed_calls_and_client_id_reads(healthy_stack: Stack, http: Any, instagram_node: Run) -> None:
    owner: Account = sign_up(healthy_stack.api, http, prefix="nodes")
    media_id = owner.post_photo(jpeg(320, 320))["id"]
    app, secret = check_register_client(
        name="Signed Node app", redirect_uri="https://node.example.com/cb", enforce_signed_requests=True
    )
    token = owner.with_token(scope="basic likes", application=app).token
    signed = {"access_token": token, "client_secret": secret, "enforce_signed_requests": True}
    results = instagram_node(
        [
            {"use": signed, "call": "user", "args": ["self"]},
            {"use": signed, "call": "add_like", "args": [media_id]},
            {"use": {"access_token": token}, "call": "user", "args": ["self"]},
            # An app as itself: client_id and secret, signed over both.
            {
                "use": {"client_id": app.client_id, "client_secret": secret},
                "call": "media_popular",
                "args": [],
            },
            {
                "use": {"client_id": app.client_id, "client_secret": secret, "enforce_signed_requests": True},
                "call": "media",
                "args": [media_id],
            },
        ]
    )
    assert ok(results[0])[0]["username"] == owner.username
    ok(results[1])
    assert owner.data(f"media/{media_id}")["likes"]["count"] == 1
    assert results[2]["error"]["error_type"] == "OAuthForbiddenException"
    assert results[3]["error"]["error_type"] == "OAuthForbiddenException"  # unsigned, for this app
    assert ok(results[4])[0]["id"] == media_id


def test_every_other_call_of_the_library(
    healthy_stack: Stack,
    http: Any,
    instagram_node: Run,
    callback: CallbackServer,  # noqa: F811 (the fixture)
) -> None:
    """Users, places, relationships, OAuth, oEmbed and real-time, each as the library calls it."""
    alice = sign_up(healthy_stack.api, http, prefix="nodea")
    bob = sign_up(healthy_stack.api, http, prefix="nodeb")
    carol = sign_up(healthy_stack.api, http, prefix="nodec")
    assert carol.post("accounts/edit", is_private="true").status_code == 200
    tag = f"node{alice.id}"
    pier = {"lat": "37.8087", "lng": "-122.4098"}
    placed = alice.post_photo(jpeg(320, 320), caption=f"Pier #{tag}", location_name=f"Pier 39 {tag}", **pier)
    place_id = placed["location"]["id"]
    shortcode = placed["link"].rstrip("/").rsplit("/", 1)[1]
    app = register(name="Node era app")
    geography = Subscription.objects.create(
        application=app.application,
        object=SubscriptionObject.GEOGRAPHY,
        latitude=float(pier["lat"]),
        longitude=float(pier["lng"]),
        radius=1000,
        callback_url="https://public.example/hook",
        client_secret=encrypt("unused"),
    )
    scopes = "basic likes comments relationships"
    as_bob = {"access_token": bob.with_token(scope=scopes, application=app.application).token}
    as_carol = {"access_token": carol.with_token(scope=scopes, application=app.application).token}
    as_app = {"client_id": app.client_id, "client_secret": app.secret}
    code = code_for(http, healthy_stack, app, User.objects.get(id=int(bob.id)))

    def step(use: dict[str, Any], call: str, *args: Any, sync: bool = False) -> dict[str, Any]:
        return {"use": use, "call": call, "args": list(args), "sync": sync}

    results = instagram_node(
        [
            step(as_bob, "set_user_relationship", alice.id, "follow"),
            step(as_bob, "add_like", placed["id"]),
            step(as_bob, "user_self_liked", {"count": 5}),
            step(as_bob, "user_media_recent", alice.id, {"count": 5}),
            step(as_bob, "user_search", alice.username),
            step(as_bob, "user_follows", bob.id),
            step(as_bob, "user_followers", alice.id),
            step(as_bob, "media_shortcode", shortcode),
            step(as_bob, "media_search", float(pier["lat"]), float(pier["lng"]), {"distance": 100}),
            step(as_bob, "tag", tag),
            step(as_bob, "tag_search", tag),
            step(as_bob, "location", place_id),
            step(as_bob, "location_media_recent", place_id),
            step(as_bob, "location_search", {"lat": float(pier["lat"]), "lng": float(pier["lng"])}),
            step(as_app, "geography_media_recent", str(geography.id)),
            step(as_bob, "set_user_relationship", carol.id, "follow"),
            step(as_carol, "user_self_requested_by"),
            step(as_carol, "set_user_relationship", bob.id, "approve"),
            step(as_carol, "user_self_media_recent"),
            step(as_app, "oembed", placed["link"]),
            step(as_app, "get_authorization_url", app.redirect_uri, {"scope": ["likes"]}, sync=True),
            step(as_app, "authorize_user", code, app.redirect_uri),
            step(as_app, "add_tag_subscription", tag, callback.url(), {"verify_token": "node"}),
            step(as_app, "subscriptions"),
        ]
    )
    answers = [ok(result) for result in results]
    assert answers[0][0]["outgoing_status"] == "follows"
    assert [m["id"] for m in answers[2][0]] == [placed["id"]]
    assert [m["id"] for m in answers[3][0]] == [placed["id"]]
    assert [u["id"] for u in answers[4][0]] == [alice.id]
    assert [u["id"] for u in answers[5][0]] == [alice.id]
    assert [u["id"] for u in answers[6][0]] == [bob.id]
    assert answers[7][0]["id"] == placed["id"]
    assert placed["id"] in [m["id"] for m in answers[8][0]]
    assert answers[9][0] == {"name": tag, "media_count": 1}
    assert {"name": tag, "media_count": 1} in answers[10][0]
    assert answers[11][0]["name"] == f"Pier 39 {tag}"
    assert [m["id"] for m in answers[12][0]] == [placed["id"]]
    assert place_id in [p["id"] for p in answers[13][0]]
    assert placed["id"] in [m["id"] for m in answers[14][0]]
    assert answers[15][0]["outgoing_status"] == "requested"
    assert [u["id"] for u in answers[16][0]] == [bob.id]
    assert answers[17][0]["incoming_status"] == "followed_by"
    assert answers[18][0] == []
    assert answers[19][0]["media_id"] == placed["id"]
    authorize_url = answers[20][0]
    assert authorize_url.startswith("https://localhost")
    assert f"client_id={app.client_id}" in authorize_url
    assert "/oauth/authorize" in authorize_url
    assert answers[21][0]["access_token"]
    assert answers[21][0]["user"]["id"] == bob.id
    subscription = answers[22][0]
    assert (subscription["object"], subscription["object_id"]) == ("tag", tag)
    assert callback.challenges[-1]["hub.verify_token"] == "node"
    assert sorted(s["id"] for s in answers[23][0]) == sorted([str(geography.id), subscription["id"]])
    (deleted,) = instagram_node([step(as_app, "del_subscription", {"id": subscription["id"]})])
    ok(deleted)
    assert not Subscription.objects.filter(id=int(subscription["id"])).exists()
    # The library's own comment deletion, on the comment it posts.
    posted, listed = instagram_node(
        [step(as_bob, "add_comment", placed["id"], "From Node"), step(as_bob, "comments", placed["id"])]
    )
    ok(posted)
    caption, comment = ok(listed)[0]  # the caption is the owner's first comment
    assert (caption["text"], comment["text"]) == (f"Pier #{tag}", "From Node")
    (removed,) = instagram_node([step(as_bob, "del_comment", placed["id"], comment["id"])])
    ok(removed)
    assert alice.data(f"media/{placed['id']}")["comments"]["count"] == 1


def test_places_times_and_tag_pages_as_node_calls_them(
    healthy_stack: Stack, http: Any, instagram_node: Run
) -> None:
    """location_search by a venue's ids, location_media_recent by time, tag pages by next_max_tag_id."""
    alice = sign_up(healthy_stack.api, http, prefix="nodep")
    tag, venue, page = f"nodepage{alice.id}", secrets.token_hex(12), str(random.randrange(10**9, 10**15))
    posted = [
        alice.post_photo(
            jpeg(200, 200),
            caption=f"#{tag} {n}",
            lat=str(-52.5 + n / 1e4),
            lng=str(float(alice.id) % 170),
            location_name=f"Node venue {alice.id}",
            foursquare_v2_id=venue,
            facebook_places_id=page,
        )
        for n in range(3)
    ]
    place = posted[0]["location"]["id"]
    assert {m["location"]["id"] for m in posted} == {place}
    use = {"access_token": alice.token}
    newest = int(posted[-1]["created_time"])
    found_v2, found_fb, by_time, early = (
        ok(r)
        for r in instagram_node(
            [
                {"use": use, "call": "location_search", "args": [{"foursquare_v2_id": venue}]},
                {"use": use, "call": "location_search", "args": [{"facebook_places_id": page}]},
                {
                    "use": use,
                    "call": "location_media_recent",
                    "args": [place, {"min_timestamp": newest - 600, "max_timestamp": newest}],
                },
                {"use": use, "call": "location_media_recent", "args": [place, {"max_timestamp": 1300000000}]},
            ]
        )
    )
    assert [p["id"] for p in found_v2[0]] == [p["id"] for p in found_fb[0]] == [place]
    assert [m["id"] for m in by_time[0]] == [m["id"] for m in reversed(posted)]
    assert early[0] == []

    # What the library's pagination.next() sends: max_tag_id=<next_max_tag_id>, until there is none.
    seen: list[str] = []
    options: dict[str, Any] = {"count": 2}
    for _ in range(5):
        (result,) = instagram_node([{"use": use, "call": "tag_media_recent", "args": [tag, options]}])
        items, pagination = ok(result)[:2]
        seen += [m["id"] for m in items]
        if "next_max_tag_id" not in pagination:
            break
        options = {**options, "max_tag_id": pagination["next_max_tag_id"]}
    assert seen == [m["id"] for m in reversed(posted)]
