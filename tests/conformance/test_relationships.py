"""Relationship endpoints, as instagram.com/developer/endpoints/relationships/ documented them."""

import pytest

from tests.conformance.conftest import World, ok
from tests.conformance.shapes import LISTED_USER, RELATIONSHIP, paging
from tests.v1 import sign_up


def test_follows_and_followed_by_with_cursor(world: World) -> None:
    follows = ok(
        world.bob.get(f"users/{world.bob.id}/follows"), [LISTED_USER], pagination=paging("next_cursor")
    )
    assert [u["id"] for u in follows] == [world.alice.id]  # carol has not approved yet
    followers = ok(world.alice.get("users/self/followed-by"), [LISTED_USER], pagination=paging("next_cursor"))
    assert [u["id"] for u in followers] == [world.bob.id]


def test_follows_pages_by_cursor(world: World) -> None:
    fan = sign_up(world.bob.base, world.bob.http, prefix="conf_fan")
    for _ in range(3):
        fan.act(sign_up(world.bob.base, world.bob.http, prefix="conf_star"), "follow")
    seen: list[str] = []
    response = fan.get("users/self/follows", count=2)
    while True:
        seen += [u["id"] for u in ok(response, [LISTED_USER], pagination=paging("next_cursor"))]
        pagination = response.json()["pagination"]
        if not pagination:
            break
        response = fan.get("users/self/follows", count=2, cursor=pagination["next_cursor"])
    assert len(seen) == len(set(seen)) == 3


def test_requested_by(world: World) -> None:
    asking = ok(world.carol.get("users/self/requested-by"), [LISTED_USER])
    assert [u["id"] for u in asking] == [world.bob.id]


def test_get_relationship(world: World) -> None:
    assert ok(world.bob.get(f"users/{world.alice.id}/relationship"), RELATIONSHIP) == {
        "outgoing_status": "follows",
        "incoming_status": "none",
        "target_user_is_private": False,
    }
    assert (
        ok(world.alice.get(f"users/{world.bob.id}/relationship"), RELATIONSHIP)["incoming_status"]
        == "followed_by"
    )
    assert ok(world.bob.get(f"users/{world.carol.id}/relationship"), RELATIONSHIP) == {
        "outgoing_status": "requested",
        "incoming_status": "none",
        "target_user_is_private": True,
    }
    assert (
        ok(world.carol.get(f"users/{world.bob.id}/relationship"), RELATIONSHIP)["incoming_status"]
        == "requested_by"
    )


@pytest.mark.parametrize(
    ("actions", "outgoing", "incoming"),
    [
        (["follow"], "requested", "none"),
        (["follow", "unfollow"], "none", "none"),
        (["follow", "approve"], "follows", "none"),
        (["follow", "ignore"], "none", "none"),
        (["follow", "deny"], "none", "none"),
        (["block"], "none", "blocked_by_you"),
        (["block", "unblock"], "none", "none"),
    ],
)
def test_post_relationship_actions(world: World, actions: list[str], outgoing: str, incoming: str) -> None:
    """Each documented action, with the answer v1 gave: the asker's relationship afterwards."""
    asker = sign_up(world.bob.base, world.bob.http, prefix="conf_ask")
    owner = sign_up(world.bob.base, world.bob.http, prefix="conf_own")
    assert owner.post("accounts/edit", is_private="true").status_code == 200
    for action in actions:
        # follow/unfollow/block/unblock are the asker's; approve/ignore/deny the owner's answer.
        actor, target = (owner, asker) if action in ("approve", "ignore", "deny") else (asker, owner)
        answer = ok(actor.post(f"users/{target.id}/relationship", action=action), RELATIONSHIP)
        assert set(answer) == {"outgoing_status", "incoming_status", "target_user_is_private"}
    seen = ok(asker.get(f"users/{owner.id}/relationship"), RELATIONSHIP)
    assert (seen["outgoing_status"], seen["incoming_status"]) == (outgoing, incoming)
