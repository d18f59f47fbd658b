"""Reads of relationships: one pair's state, a user's lists, who is hidden from whom, followers in chunks."""

from typing import Any

from django.db import connections

from instagram.request_memo import memoized, remember
from relationships.models import Edge, Kind
from relationships.transitions import State
from sharding.routing import read_rows, shard_for_user, user_shard


def relationship_state(*, viewer_id: int, other_id: int) -> State:
    """Return the edge kinds `viewer_id` holds towards `other_id` (one query on the viewer's shard)."""
    if viewer_id == other_id:
        return frozenset()
    with shard_for_user(viewer_id, read_only=True):
        kinds = list(Edge.objects.filter(user_id=viewer_id, other_id=other_id).values_list("kind", flat=True))
    return frozenset(Kind(kind) for kind in kinds)


def blocked_ids(*, viewer_id: int) -> set[int]:
    """Return the users `viewer_id` blocks or is blocked by: each is hidden from the other.

    Read once per request (instagram.request_memo): a media page asks for
    its cards and again for their likes and comments.
    """
    return set(memoized(_blocked_key(viewer_id), lambda: _read_blocked_ids(viewer_id)))


def _blocked_key(viewer_id: int) -> tuple[str, int]:
    return ("blocked_ids", viewer_id)


def _read_blocked_ids(viewer_id: int) -> frozenset[int]:
    with shard_for_user(viewer_id, read_only=True):
        return frozenset(
            Edge.objects.filter(user_id=viewer_id, kind__in=[Kind.BLOCKS, Kind.BLOCKED_BY]).values_list(
                "other_id", flat=True
            )
        )


def edge_page(*, user_id: int, kind: Kind, before: int | None, count: int) -> tuple[list[int], int | None]:
    """Return one page of `user_id`'s `kind` list, newest first: the other users' ids and the next cursor.

    The cursor is the edge id to continue below; None on the last page.
    """
    with shard_for_user(user_id, read_only=True):
        edges = Edge.objects.filter(user_id=user_id, kind=kind)
        if before is not None:
            edges = edges.filter(id__lt=before)
        rows = list(edges.order_by("-id").values_list("id", "other_id")[: count + 1])
    page = rows[:count]
    next_cursor = page[-1][0] if len(rows) > count else None
    return [other_id for _, other_id in page], next_cursor


def states_towards(*, viewer_id: int, other_ids: set[int]) -> dict[int, State]:
    """Return the edge kinds `viewer_id` holds towards each of `other_ids` (one query, viewer's shard).

    The same query reads every block of the viewer's, kept for the request's
    blocked_ids (a media page asks for both).
    """
    return states_with(viewer_id=viewer_id, other_ids=other_ids, along=None)[0]


def states_with(
    *, viewer_id: int, other_ids: set[int], along: tuple[str, list[Any]] | None
) -> tuple[dict[int, State], set[int]]:
    """states_towards, and in the same round trip another read of the viewer's shard (`along`).

    `along` is SQL and its parameters selecting one bigint column from the
    viewer's shard (UNION ALL to the edges): the ids it found come back
    beside the states.
    """
    others = other_ids - {viewer_id}
    states: dict[int, set[Kind]] = {other: set() for other in others}
    found: set[int] = set()
    if others or along is not None:
        blocks = [Kind.BLOCKS.value, Kind.BLOCKED_BY.value]
        blocked: set[int] = set()
        sql = (
            f"SELECT other_id, kind FROM {Edge._meta.db_table} "  # noqa: S608 (names from models)
            "WHERE user_id = %s AND (other_id = ANY(%s) OR kind = ANY(%s))"
        )
        params: list[Any] = [viewer_id, sorted(others), blocks]
        if along is not None:
            sql = f"{sql} UNION ALL SELECT along.id, NULL FROM ({along[0]}) AS along(id)"  # noqa: S608
            params += along[1]
        # One statement: read_rows needs no standby probe before it (one round trip, not two).
        rows = read_rows(user_shard(viewer_id), sql, params, for_user=viewer_id)
        for other_id, kind in rows:
            if kind is None:
                found.add(other_id)
                continue
            if kind in blocks:
                blocked.add(other_id)
            if other_id in states:
                states[other_id].add(Kind(kind))
        remember(_blocked_key(viewer_id), frozenset(blocked))
    return {other: frozenset(kinds) for other, kinds in states.items()}, found


def follower_chunks(*, owner_id: int, chunk: int) -> list[tuple[int, int]]:
    """Split `owner_id`'s followers into (after_edge, last_edge] ranges of `chunk` followers each.

    Reads only edge ids, in one index scan on the owner's shard (the primary:
    a follow made a moment ago counts).
    """
    with shard_for_user(owner_id):
        edge_ids = list(
            Edge.objects.filter(user_id=owner_id, kind=Kind.FOLLOWED_BY)
            .order_by("id")
            .values_list("id", flat=True)
        )
    ranges = []
    after = 0
    for start in range(0, len(edge_ids), chunk):
        last = edge_ids[min(start + chunk, len(edge_ids)) - 1]
        ranges.append((after, last))
        after = last
    return ranges


def followers_in(*, owner_id: int, after_edge: int, last_edge: int) -> list[int]:
    """The followers whose edges fall in (after_edge, last_edge], on the owner's shard.

    A fan-out chunk reads thousands: a plain cursor, not the ORM's row by row iteration.
    """
    sql = (
        f"SELECT other_id FROM {Edge._meta.db_table} "  # noqa: S608 (names from the model)
        "WHERE user_id = %s AND kind = %s AND id > %s AND id <= %s"
    )
    with shard_for_user(owner_id) as shard, connections[shard.alias].cursor() as cursor:
        cursor.execute(sql, [owner_id, Kind.FOLLOWED_BY.value, after_edge, last_edge])
        return [other_id for (other_id,) in cursor.fetchall()]


def followees(*, user_id: int, among: set[int] | None = None) -> list[int]:
    """Whom `user_id` follows (all, or those `among` a set), from their shard.

    One statement (read_rows: no standby probe before it); the feed asks it
    on every read for the followed accounts among the celebrities.
    """
    sql = f"SELECT other_id FROM {Edge._meta.db_table} WHERE user_id = %s AND kind = %s"  # noqa: S608
    params: list[Any] = [user_id, Kind.FOLLOWS.value]
    if among is not None:
        sql += " AND other_id = ANY(%s)"
        params.append(sorted(among))
    return [other_id for (other_id,) in read_rows(user_shard(user_id), sql, params, for_user=user_id)]
