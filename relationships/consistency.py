"""Finding and repairing relationships half-written by a crash between two shards' commits.

`relationships.actions` commits the higher user's shard first and the lower
user's shard last, so the lower user's half is the truth: a half on the
higher user's shard with no partner is dropped, a half on the lower user's
shard with no partner gets its mirror. Counts are then recomputed from the
edges themselves.
"""

from collections import defaultdict
from dataclasses import dataclass

from django.db import connections, transaction
from django.db.models import Q

from relationships.actions import lock_pair
from relationships.models import Edge, Kind
from relationships.transitions import MIRROR
from sharding.routing import shard_for_user, shard_map, user_shard
from sharding.sql import schema_name
from users.cache import forget_profiles_on_commit
from users.models import User

Half = tuple[int, int, str]  # (user_id, other_id, kind) as stored on user_id's shard


@dataclass(frozen=True)
class Report:
    orphans: list[Half]
    miscounted: list[int]  # users whose stored counts differ from their edges


# Table names below are schema_name(int) and a constant: nothing from outside reaches the SQL text.


def _halves(shard: int) -> list[Half]:
    alias = shard_map().database(shard)
    table = f"{schema_name(shard)}.relationship_edge"
    with connections[alias].cursor() as cursor:
        cursor.execute(f"SELECT user_id, other_id, kind FROM {table}")  # noqa: S608
        return [(int(u), int(o), str(k)) for u, o, k in cursor.fetchall()]


def _present(shard: int, halves: list[Half]) -> set[Half]:
    """Return which of `halves` (all of users on `shard`) exist there."""
    alias = shard_map().database(shard)
    rows = ", ".join(["(%s::bigint, %s::bigint, %s::varchar)"] * len(halves))
    table = f"{schema_name(shard)}.relationship_edge"
    sql = (
        f"SELECT e.user_id, e.other_id, e.kind FROM {table} e"  # noqa: S608
        f" JOIN (VALUES {rows}) AS w(user_id, other_id, kind)"
        " ON e.user_id = w.user_id AND e.other_id = w.other_id AND e.kind = w.kind"
    )
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [value for half in halves for value in half])
        return {(int(u), int(o), str(k)) for u, o, k in cursor.fetchall()}


def orphans_in_shard(shard: int) -> tuple[list[Half], dict[int, dict[str, int]]]:
    """Return the halves on `shard` whose mirror is missing, and each user's follow counts there."""
    halves = _halves(shard)
    counts: dict[int, dict[str, int]] = defaultdict(lambda: {"follows": 0, "followed_by": 0})
    wanted: dict[int, list[Half]] = defaultdict(list)
    for user_id, other_id, kind in halves:
        if kind in counts[user_id]:
            counts[user_id][kind] += 1
        wanted[user_shard(other_id)].append((other_id, user_id, MIRROR[Kind(kind)].value))
    orphans: list[Half] = []
    for other_shard, mirrors in wanted.items():
        found = _present(other_shard, mirrors)
        orphans += [(u, o, MIRROR[Kind(k)].value) for o, u, k in mirrors if (o, u, k) not in found]
    return orphans, counts


def miscounted_users(counts: dict[int, dict[str, int]]) -> list[int]:
    """Return the users whose stored counts differ from `counts` (every user's edges, all shards).

    Users with no edges at all must have zero counts: those with more are
    found by a scan of the (indexed by id) accounts table.
    """
    wrong: list[int] = []
    for user_id, follows, followed_by in (
        User.objects.filter(Q(id__in=list(counts)) | Q(follows_count__gt=0) | Q(followed_by_count__gt=0))
        .values_list("id", "follows_count", "followed_by_count")
        .iterator(chunk_size=10_000)
    ):
        edges = counts.get(user_id, {"follows": 0, "followed_by": 0})
        if (follows, followed_by) != (edges["follows"], edges["followed_by"]):
            wrong.append(user_id)
    return wrong


def do_repair_pair(*, user_id: int, other_id: int) -> None:
    """Make both halves of the pair agree with the lower user's half, then recount both users."""
    low, high = sorted((user_id, other_id))
    with shard_for_user(low):
        lock_pair(low, high)
        truth = {
            Kind(k) for k in Edge.objects.filter(user_id=low, other_id=high).values_list("kind", flat=True)
        }
        with shard_for_user(high):
            Edge.objects.filter(user_id=high, other_id=low).delete()
            Edge.objects.bulk_create([Edge(user_id=high, other_id=low, kind=MIRROR[k]) for k in truth])
    do_recount(user_ids=[low, high])


def do_recount(*, user_ids: list[int]) -> None:
    """Set the users' follows and followed-by counts to what their edges say."""
    with transaction.atomic(using="default"):
        for user_id in sorted(user_ids):
            with shard_for_user(user_id):
                follows = Edge.objects.filter(user_id=user_id, kind=Kind.FOLLOWS).count()
                followed_by = Edge.objects.filter(user_id=user_id, kind=Kind.FOLLOWED_BY).count()
            User.objects.filter(id=user_id).update(follows_count=follows, followed_by_count=followed_by)
        forget_profiles_on_commit(*user_ids)
