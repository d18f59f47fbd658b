"""The relationship state machine on its own (no servers): every action from the states that matter."""

import pytest

from instagram.errors import APIError
from relationships.models import Kind
from relationships.transitions import Action, incoming_status, mirror, outgoing_status, transition

pytestmark = pytest.mark.fast  # pure logic: `make test-fast`

NONE: frozenset[Kind] = frozenset()
F, R, B = Kind.FOLLOWS, Kind.REQUESTED, Kind.BLOCKS
FB, RB, BB = Kind.FOLLOWED_BY, Kind.REQUESTED_BY, Kind.BLOCKED_BY


@pytest.mark.parametrize(
    ("before", "action", "private", "after"),
    [
        (NONE, Action.FOLLOW, False, {F}),
        (NONE, Action.FOLLOW, True, {R}),
        ({F}, Action.FOLLOW, True, {F}),  # going private keeps existing followers
        ({R}, Action.FOLLOW, True, {R}),
        ({FB}, Action.FOLLOW, False, {F, FB}),
        ({F, FB}, Action.UNFOLLOW, False, {FB}),
        ({R}, Action.UNFOLLOW, True, NONE),
        (NONE, Action.UNFOLLOW, False, NONE),
        ({F, FB}, Action.BLOCK, False, {B}),
        ({R, RB}, Action.BLOCK, True, {B}),
        ({B, BB}, Action.BLOCK, False, {B, BB}),
        ({B}, Action.UNBLOCK, False, NONE),
        ({B, BB}, Action.UNBLOCK, False, {BB}),
        (NONE, Action.UNBLOCK, False, NONE),
        ({RB}, Action.APPROVE, False, {FB}),
        ({RB, F}, Action.APPROVE, False, {FB, F}),
        ({FB}, Action.APPROVE, False, {FB}),
        ({RB}, Action.IGNORE, False, NONE),
        ({RB}, Action.DENY, False, NONE),
        (NONE, Action.IGNORE, False, NONE),
    ],
)
def test_transition(before: set[Kind], action: Action, private: bool, after: set[Kind]) -> None:
    assert transition(frozenset(before), action, target_is_private=private) == frozenset(after)


@pytest.mark.parametrize(
    ("before", "action", "error_type"),
    [
        ({B}, Action.FOLLOW, "APINotAllowedError"),
        ({BB}, Action.FOLLOW, "APINotAllowedError"),
        (NONE, Action.APPROVE, "APIInvalidParametersError"),
    ],
)
def test_refused_transitions(before: set[Kind], action: Action, error_type: str) -> None:
    with pytest.raises(APIError) as raised:
        transition(frozenset(before), action, target_is_private=False)
    assert raised.value.error_type == error_type


def test_statuses_and_mirror() -> None:
    def statuses(*kinds: Kind) -> tuple[str, str]:
        return outgoing_status(frozenset(kinds)), incoming_status(frozenset(kinds))

    assert statuses(F, FB) == ("follows", "followed_by")
    assert statuses(R, RB) == ("requested", "requested_by")
    assert statuses(B) == ("none", "blocked_by_you")
    assert mirror(frozenset({F, RB, B})) == frozenset({FB, R, BB})
    assert mirror(mirror(frozenset(Kind))) == frozenset(Kind)
