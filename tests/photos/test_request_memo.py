"""Facts read once per request (instagram.request_memo) never outlive their request.

A request keeps the viewer's blocks and whether a user wrote recently
after reading them once. Each test here reads through both app servers
first, then changes something, and checks that the very next request on
each app server sees the change; and that a request which itself writes
reads afresh afterwards.
"""

import contextvars
from typing import Any

import requests

from instagram.request_memo import open_request_memo
from relationships.actions import check_change_relationship
from relationships.selectors import blocked_ids, states_towards
from tests.conftest import Stack, wait_for
from tests.feeds.test_feed import follow, in_feed, post
from tests.v1 import Account
from users.models import User


def on_each_app_server(stack: Stack, account: Account, path: str) -> list[requests.Response]:
    """GET /v1/`path` as `account` from each app server directly (no nginx, no retry)."""
    return [
        requests.get(f"http://127.0.0.1:{port}/v1/{path}", params={"access_token": account.token}, timeout=15)
        for port in stack.profile.apps
    ]


def statuses(answers: list[requests.Response]) -> list[int]:
    return [answer.status_code for answer in answers]


def media_ids(answers: list[requests.Response]) -> list[set[str]]:
    return [{media["id"] for media in answer.json()["data"]} for answer in answers]


def test_a_new_block_is_seen_by_the_next_request_on_every_app_server(
    healthy_stack: Stack, signup: Any
) -> None:
    owner, viewer = signup("mmown"), signup("mmview")
    follow(viewer, owner)
    media = post(owner, "pier at dusk")
    wait_for(lambda: in_feed(viewer, media))
    assert media_ids(on_each_app_server(healthy_stack, viewer, "users/self/feed")) == [{media}, {media}]
    assert statuses(on_each_app_server(healthy_stack, viewer, f"media/{media}")) == [200, 200]

    follow(owner, viewer, "block")
    assert media_ids(on_each_app_server(healthy_stack, viewer, "users/self/feed")) == [set(), set()]
    assert statuses(on_each_app_server(healthy_stack, viewer, f"media/{media}")) == [404, 404]


def test_an_account_turned_private_is_seen_by_the_next_request_on_every_app_server(
    healthy_stack: Stack, signup: Any
) -> None:
    owner, stranger = signup("mmpriv"), signup("mmstr")
    media = post(owner)
    assert statuses(on_each_app_server(healthy_stack, stranger, f"media/{media}")) == [200, 200]
    likers = on_each_app_server(healthy_stack, stranger, f"media/{media}/likes")
    assert statuses(likers) == [200, 200]

    assert owner.post("accounts/edit", is_private="true").status_code == 200
    assert statuses(on_each_app_server(healthy_stack, stranger, f"media/{media}")) == [400, 400]
    assert statuses(on_each_app_server(healthy_stack, stranger, f"media/{media}/likes")) == [400, 400]


def test_an_unlike_is_seen_by_the_next_request_on_every_app_server(healthy_stack: Stack, signup: Any) -> None:
    owner, fan = signup("mmlown"), signup("mmfan")
    media = post(owner)
    assert fan.post(f"media/{media}/likes").status_code == 200
    for answer in on_each_app_server(healthy_stack, fan, f"media/{media}"):
        seen = answer.json()["data"]
        assert (seen["likes"]["count"], seen["user_has_liked"]) == (1, True)
        assert [user["id"] for user in seen["likes"]["data"]] == [fan.id]
    for answer in on_each_app_server(healthy_stack, fan, f"media/{media}/likes"):
        assert [user["id"] for user in answer.json()["data"]] == [fan.id]

    assert fan.delete(f"media/{media}/likes").status_code == 200
    for answer in on_each_app_server(healthy_stack, fan, f"media/{media}"):
        seen = answer.json()["data"]
        assert (seen["likes"]["count"], seen["user_has_liked"], seen["likes"]["data"]) == (0, False, [])
    likers = on_each_app_server(healthy_stack, fan, f"media/{media}/likes")
    assert [answer.json()["data"] for answer in likers] == [[], []]
    assert media not in {m["id"] for m in fan.data("users/self/media/liked")}


def test_a_request_that_blocks_then_reads_sees_its_own_block(healthy_stack: Stack, signup: Any) -> None:
    viewer, other = signup("mmself"), signup("mmother")
    actor = User.objects.get(id=int(viewer.id))

    def one_request() -> tuple[set[int], set[int], frozenset[str]]:
        open_request_memo()
        before = blocked_ids(viewer_id=actor.id)
        states_towards(viewer_id=actor.id, other_ids={int(other.id)})  # reads the blocks along
        check_change_relationship(
            actor=actor, target_id=int(other.id), target_is_private=False, action="block"
        )
        after = blocked_ids(viewer_id=actor.id)
        state = states_towards(viewer_id=actor.id, other_ids={int(other.id)})[int(other.id)]
        return before, after, frozenset(str(kind) for kind in state)

    before, after, state = contextvars.Context().run(one_request)
    assert (before, after) == (set(), {int(other.id)})
    assert "blocks" in state
