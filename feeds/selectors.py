"""Reads for feeds: follower lists in chunks, users' recent media across shards, the feed page."""

from typing import Any

from django.conf import settings

from feeds import news, store
from photos.cache import MediaCard
from photos.refs import media_ref
from photos.selectors import RENDITION_SIZES, permalink, short_user, visible_cards
from photos.storage import cdn_url, rendition_key
from relationships.models import Edge, Kind
from relationships.selectors import blocked_ids
from sharding.multiget import query_shards
from sharding.routing import shard_for_user, user_shard
from users.cache import profiles
from users.models import User


def thumbnail(card: MediaCard) -> dict[str, Any]:
    size = RENDITION_SIZES["thumbnail"]
    return {"url": cdn_url(rendition_key(card.object_prefix, "thumbnail")), "width": size, "height": size}


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
    """The followers whose edges fall in (after_edge, last_edge], on the owner's shard."""
    with shard_for_user(owner_id):
        return list(
            Edge.objects.filter(
                user_id=owner_id, kind=Kind.FOLLOWED_BY, id__gt=after_edge, id__lte=last_edge
            ).values_list("other_id", flat=True)
        )


def followees(*, user_id: int, among: set[int] | None = None) -> list[int]:
    """Whom `user_id` follows (all, or those `among` a set), from their shard."""
    with shard_for_user(user_id, read_only=True):
        edges = Edge.objects.filter(user_id=user_id, kind=Kind.FOLLOWS)
        if among is not None:
            edges = edges.filter(other_id__in=among)
        return list(edges.values_list("other_id", flat=True))


def recent_media_of(
    *, user_ids: list[int], count: int, max_id: int | None = None, min_id: int | None = None
) -> list[int]:
    """The newest `count` media ids of all `user_ids` together, below max_id / above min_id.

    One UNION ALL query per physical database, one index scan per owner
    (media_user_recent) inside it, never a query per user.
    """
    if not user_ids or count <= 0:
        return []
    bounds = ""
    if max_id is not None:
        bounds += f" AND id < {int(max_id)}"
    if min_id is not None:
        bounds += f" AND id > {int(min_id)}"
    # Only integers are formatted in; the owners are the query's parameter.
    select = (
        f"SELECT m.id FROM unnest(%s::bigint[]) AS owner(user_id) CROSS JOIN LATERAL "  # noqa: S608
        f"(SELECT id FROM {{schema}}.media WHERE user_id = owner.user_id{bounds} "
        f"ORDER BY id DESC LIMIT {int(count)}) AS m ORDER BY m.id DESC LIMIT {int(count)}"
    )
    found: list[int] = []
    for _, rows in query_shards(user_ids, select, read_only=True, what="recent media", shard_of=user_shard):
        found.extend(row[0] for row in rows)
    return sorted(found, reverse=True)[:count]


def feed_page(
    *, viewer: User, max_id: int | None, min_id: int | None, count: int
) -> tuple[list[MediaCard], int | None]:
    """One page of the viewer's feed, newest first, and the max_id of the next page (None: the end).

    Ids come from the viewer's feed in Redis (rebuilt from PostgreSQL first
    when it is missing), pages past its cap from PostgreSQL, and the recent
    media of followed accounts too big to fan out are merged in; then the
    page is hydrated with one memcached multi-get (misses: one query per
    physical database) and filtered by what the viewer may see.
    """
    from feeds.actions import do_rebuild_feed

    stored = store.page(user_id=viewer.id, max_id=max_id, min_id=min_id, count=count)
    if stored is None:
        do_rebuild_feed(user_id=viewer.id)
        stored = store.page(user_id=viewer.id, max_id=max_id, min_id=min_id, count=count) or ([], 0)
    ids, size = stored
    candidates = set(ids)
    if len(ids) < count and size >= settings.FEED_SIZE:
        # Below the oldest entry Redis keeps: the rest comes from the followees' shards.
        oldest = min(ids) if ids else max_id
        followed = [*followees(user_id=viewer.id), viewer.id]
        candidates.update(recent_media_of(user_ids=followed, count=count, max_id=oldest, min_id=min_id))
    celebrities = store.celebrities()
    if celebrities:
        followed_celebrities = followees(user_id=viewer.id, among=celebrities)
        candidates.update(
            recent_media_of(user_ids=followed_celebrities, count=count, max_id=max_id, min_id=min_id)
        )
    page_ids = sorted(candidates, reverse=True)[:count]
    cards = visible_cards(viewer=viewer, ids=page_ids)
    return cards, (page_ids[-1] if len(page_ids) == count else None)


def news_entries(
    *, viewer: User, tab: str, before_ms: int | None, count: int
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of a news list as v1-style objects, and the cursor of the next page (None: the end).

    Entries about media the viewer may no longer see (deleted, a private
    account's, a block) are left out; their people and media are read with
    one multi-get each.
    """
    raw = news.page(user_id=viewer.id, tab=tab, before_ms=before_ms, count=count)
    media_ids = {int(entry["media_id"]) for entry, _ in raw if "media_id" in entry}
    cards = {card.id: card for card in visible_cards(viewer=viewer, ids=sorted(media_ids, reverse=True))}
    people = profiles(
        {int(entry[key]) for entry, _ in raw for key in ("actor_id", "owner_id", "target_id") if key in entry}
    )
    blocked = blocked_ids(viewer_id=viewer.id)
    entries = []
    for entry, at_ms in raw:
        actor = people.get(int(entry["actor_id"]))
        if actor is None or actor.id in blocked:
            continue
        item: dict[str, Any] = {
            "id": entry["id"],
            "type": entry["type"],
            "created_time": str(at_ms // 1000),
            "user": short_user(actor),
        }
        if "media_id" in entry:
            card = cards.get(int(entry["media_id"]))
            if card is None:
                continue
            item["media"] = {
                "id": media_ref(media_id=card.id, user_id=card.user_id),
                "link": permalink(card.id),
                "images": {"thumbnail": thumbnail(card)},
            }
        if "text" in entry:
            item["text"] = entry["text"]
        if "comment_id" in entry:
            item["comment_id"] = str(entry["comment_id"])
        for key, name in (("owner_id", "media_owner"), ("target_id", "target_user")):
            if key in entry:
                other = people.get(int(entry[key]))
                if other is None or other.id in blocked:  # a block hides either from the other
                    break
                item[name] = short_user(other)
        else:
            entries.append(item)
    cursor = raw[-1][1] if len(raw) == count else None
    return entries, cursor
