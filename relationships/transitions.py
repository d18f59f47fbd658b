"""The relationship state machine, as pure functions of the edges between two users.

A state is the set of edge kinds one user holds towards another (their
shard's copy). `transition` says what an action turns it into; the caller
stores the difference on both shards.
"""

from enum import StrEnum

from instagram.errors import APIInvalidParametersError, APINotAllowedError
from relationships.models import Kind

State = frozenset[Kind]

MIRROR = {
    Kind.FOLLOWS: Kind.FOLLOWED_BY,
    Kind.REQUESTED: Kind.REQUESTED_BY,
    Kind.BLOCKS: Kind.BLOCKED_BY,
    Kind.FOLLOWED_BY: Kind.FOLLOWS,
    Kind.REQUESTED_BY: Kind.REQUESTED,
    Kind.BLOCKED_BY: Kind.BLOCKS,
}


class Action(StrEnum):
    FOLLOW = "follow"
    UNFOLLOW = "unfollow"
    BLOCK = "block"
    UNBLOCK = "unblock"
    APPROVE = "approve"
    IGNORE = "ignore"
    DENY = "deny"  # what some clients of the era sent for ignore: the same transition


def mirror(state: State) -> State:
    """Return the same relationship as the other user's shard stores it."""
    return frozenset(MIRROR[kind] for kind in state)


def transition(state: State, action: Action, *, target_is_private: bool) -> State:
    """Return the state after the actor does `action` to the target; raise if it is not allowed.

    Idempotent where a client would retry: following twice, unfollowing
    someone not followed, blocking twice, unblocking or ignoring nothing
    change nothing.
    """
    if action is Action.FOLLOW:
        if Kind.BLOCKS in state:
            raise APINotAllowedError("You block this user: unblock them before following.")
        if Kind.BLOCKED_BY in state:
            raise APINotAllowedError("You cannot follow this user.")
        if state & {Kind.FOLLOWS, Kind.REQUESTED}:
            return state
        return state | {Kind.REQUESTED if target_is_private else Kind.FOLLOWS}
    if action is Action.UNFOLLOW:
        return state - {Kind.FOLLOWS, Kind.REQUESTED}
    if action is Action.BLOCK:
        # A block ends every follow and request, both ways.
        return (state - {Kind.FOLLOWS, Kind.REQUESTED, Kind.FOLLOWED_BY, Kind.REQUESTED_BY}) | {Kind.BLOCKS}
    if action is Action.UNBLOCK:
        return state - {Kind.BLOCKS}
    if action is Action.APPROVE:
        if Kind.FOLLOWED_BY in state:
            return state
        if Kind.REQUESTED_BY not in state:
            raise APIInvalidParametersError("This user has not requested to follow you.")
        return (state - {Kind.REQUESTED_BY}) | {Kind.FOLLOWED_BY}
    if action in (Action.IGNORE, Action.DENY):
        return state - {Kind.REQUESTED_BY}
    raise AssertionError(action)


def outgoing_status(state: State) -> str:
    if Kind.FOLLOWS in state:
        return "follows"
    if Kind.REQUESTED in state:
        return "requested"
    return "none"


def incoming_status(state: State) -> str:
    if Kind.BLOCKS in state:
        return "blocked_by_you"
    if Kind.FOLLOWED_BY in state:
        return "followed_by"
    if Kind.REQUESTED_BY in state:
        return "requested_by"
    return "none"
