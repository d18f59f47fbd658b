"""Writes to relationships: follow, unfollow, block, unblock, approve, ignore.

Both halves of an edge and both users' counts change together, under one
lock per pair of users, so concurrent calls for the same pair run one after
the other and the counts move exactly once per real change.

Consistency: when the two users' shards share a physical database, both
halves commit in one transaction. Otherwise three transactions commit in a
fixed order (the higher user's shard, the main database with the counts,
the lower user's shard); a crash between those commits leaves the pair
half-written, which `manage.py verify_relationships` reports and repairs.
"""

import time
from collections import Counter
from functools import partial

from django.db import connections, transaction
from django.db.models import F
from django.db.models.expressions import CombinedExpression

from feeds.actions import do_forget_followed_celebrities
from feeds.jobs import RelationshipChanged
from instagram.errors import APIInvalidParametersError
from relationships.models import Edge, Kind
from relationships.transitions import Action, State, mirror, transition
from sharding.routing import current_shard, shard_for_user
from users.cache import forget_profiles_on_commit
from users.models import User
from workers.submit import submit_job_on_commit


def check_change_relationship(*, actor: User, target_id: int, target_is_private: bool, action: str) -> State:
    """Validate `action` by `actor` on the target and apply it; return the actor's new state."""
    try:
        parsed = Action(action)
    except ValueError:
        allowed = ", ".join(a.value for a in Action)
        raise APIInvalidParametersError(f"action must be one of: {allowed}.") from None
    if actor.id == target_id:
        raise APIInvalidParametersError("You cannot change your relationship with yourself.")
    return do_change_relationship(
        actor_id=actor.id, target_id=target_id, target_is_private=target_is_private, action=parsed
    )


def do_change_relationship(
    *, actor_id: int, target_id: int, target_is_private: bool, action: Action
) -> State:
    low, high = sorted((actor_id, target_id))
    with shard_for_user(low):
        lock_pair(low, high)
        low_before = _state(low, high)
        before = low_before if actor_id == low else mirror(low_before)
        after = transition(before, action, target_is_private=target_is_private)
        if after == before:
            return after
        low_after = after if actor_id == low else mirror(after)
        with shard_for_user(high):
            _store(high, low, mirror(low_before), mirror(low_after))
        with transaction.atomic(using="default"):
            _count(low, high, low_before, low_after)
        _store(low, high, low_before, low_after)
        # Feeds, news and pushes follow once the last of the writes (this shard's) commits.
        submit_job_on_commit(
            RelationshipChanged(
                actor_id=actor_id,
                target_id=target_id,
                action=action.value,
                before=tuple(sorted(before)),
                after=tuple(sorted(after)),
                at_ms=int(time.time() * 1000),
            ),
            using=current_shard().alias,
        )
        # The pair's follows changed: so did the celebrities each reads in their feed.
        transaction.on_commit(
            partial(do_forget_followed_celebrities, actor_id, target_id), using=current_shard().alias
        )
    return after


def do_sever_relationship(*, user_id: int, other_id: int) -> None:
    """Remove every edge between the two users, both halves, the counts moving by what was there.

    For an account deletion: no transition leads from every state to none
    (a block must be undone by the blocker), so the pair is emptied as a
    whole, under the same lock and in the same order as do_change_relationship.
    A half a crash left on the higher user's shard goes too.
    """
    low, high = sorted((user_id, other_id))
    with shard_for_user(low):
        lock_pair(low, high)
        low_before = _state(low, high)
        with shard_for_user(high):
            Edge.objects.filter(user_id=high, other_id=low).delete()
        with transaction.atomic(using="default"):
            _count(low, high, low_before, frozenset())
        Edge.objects.filter(user_id=low, other_id=high).delete()
        if low_before:
            before = low_before if user_id == low else mirror(low_before)
            submit_job_on_commit(
                RelationshipChanged(
                    actor_id=user_id,
                    target_id=other_id,
                    action=Action.UNFOLLOW.value,
                    before=tuple(sorted(before)),
                    after=(),
                ),
                using=current_shard().alias,
            )
            transaction.on_commit(
                partial(do_forget_followed_celebrities, user_id, other_id), using=current_shard().alias
            )


def lock_pair(low: int, high: int) -> None:
    """Take the pair's transaction-scoped lock, on the lower user's shard's database."""
    with connections[current_shard().alias].cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"relationship:{low}:{high}"]
        )


def _state(user_id: int, other_id: int) -> State:
    kinds = Edge.objects.filter(user_id=user_id, other_id=other_id).values_list("kind", flat=True)
    return frozenset(Kind(kind) for kind in kinds)


def _store(user_id: int, other_id: int, before: State, after: State) -> None:
    gone = before - after
    if gone:
        Edge.objects.filter(user_id=user_id, other_id=other_id, kind__in=list(gone)).delete()
    # ignore_conflicts: a half a crash left on the higher user's shard is not an error; the lower
    # user's half is the truth (relationships.consistency) and the counts move by its difference.
    Edge.objects.bulk_create(
        [Edge(user_id=user_id, other_id=other_id, kind=kind) for kind in after - before],
        ignore_conflicts=True,
    )


def _count(low: int, high: int, before: State, after: State) -> None:
    """Move the denormalized counts by what changed (`before`/`after` as `low` sees it)."""
    delta: Counter[tuple[int, str]] = Counter()
    for kind, sign in [*((k, 1) for k in after - before), *((k, -1) for k in before - after)]:
        if kind is Kind.FOLLOWS:
            delta[(low, "follows_count")] += sign
            delta[(high, "followed_by_count")] += sign
        elif kind is Kind.FOLLOWED_BY:
            delta[(high, "follows_count")] += sign
            delta[(low, "followed_by_count")] += sign
    by_user: dict[int, dict[str, CombinedExpression]] = {}
    for (user_id, field), change in delta.items():
        if change:
            by_user.setdefault(user_id, {})[field] = F(field) + change
    for user_id in sorted(by_user):  # always low before high: no deadlock between pairs
        User.objects.filter(id=user_id).update(**by_user[user_id])
    if by_user:
        forget_profiles_on_commit(*by_user)
