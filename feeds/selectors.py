"""Reads for feeds: the feed page and the news lists.

Who follows whom is relationships.selectors'; whose media are newest, photos.selectors'.
"""

from typing import Any

from django.conf import settings

from feeds import news, store
from photos.cache import MediaCard
from photos.imaging import RENDITIONS
from photos.refs import media_ref
from photos.selectors import permalink, recent_media_of, short_user, visible_cards
from photos.storage import cdn_url, rendition_key
from relationships.selectors import blocked_ids, followees
from users.cache import profiles
from users.models import User


def thumbnail(card: MediaCard) -> dict[str, Any]:
    size = RENDITIONS["thumbnail"]
    return {"url": cdn_url(rendition_key(card.object_prefix, "thumbnail")), "width": size, "height": size}


def feed_page(
    *, viewer: User, max_id: int | None, min_id: int | None, count: int, rebuilt: bool = False
) -> tuple[list[MediaCard], int | None] | None:
    """One page of the viewer's feed, newest first, and the max_id of the next page (None: the end).

    None when the viewer's feed is not in Redis (expired, never built) or
    another request's rebuild of it has not stored its entries yet: the
    caller rebuilds it (feeds.actions.do_rebuild_feed) and asks again with
    `rebuilt=True`, so a read never writes behind the caller's back and
    never answers the empty page of a rebuild under way.

    Ids come from the viewer's feed in Redis, pages past its cap from
    PostgreSQL, and the recent
    media of followed accounts too big to fan out are merged in; then the
    page is hydrated with one memcached multi-get (misses: one query per
    physical database) and filtered by what the viewer may see.
    """
    stored, kept, rebuilding = store.page_and_followed(
        user_id=viewer.id, max_id=max_id, min_id=min_id, count=count
    )
    if stored is None or rebuilding:
        if not rebuilt:
            return None
        # After this request's own rebuild its entries are in, whoever else is rebuilding.
        stored = stored or ([], 0)  # evicted again right after the rebuild: read as empty
    ids, size = stored
    candidates = set(ids)
    if len(ids) < count and size >= settings.FEED_SIZE:
        # Below the oldest entry Redis keeps: the rest comes from the followees' shards.
        oldest = min(ids) if ids else max_id
        followed = [*followees(user_id=viewer.id), viewer.id]
        candidates.update(recent_media_of(user_ids=followed, count=count, max_id=oldest, min_id=min_id))
    celebrities = store.celebrities()
    if celebrities:
        followed_celebrities = store.followed_among(kept, celebrities)
        if followed_celebrities is None:
            followed_celebrities = followees(user_id=viewer.id, among=celebrities)
            store.remember_followed(user_id=viewer.id, celebrities=celebrities, followed=followed_celebrities)
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
    media_ids = {entry.media_id for entry, _ in raw if entry.media_id is not None}
    cards = {card.id: card for card in visible_cards(viewer=viewer, ids=sorted(media_ids, reverse=True))}
    named = (person for entry, _ in raw for person in (entry.actor_id, entry.owner_id, entry.target_id))
    people = profiles({person for person in named if person is not None})
    blocked = blocked_ids(viewer_id=viewer.id)
    entries = []
    for entry, at_ms in raw:
        actor = people.get(entry.actor_id)
        if actor is None or actor.id in blocked:
            continue
        item: dict[str, Any] = {
            "id": entry.id,
            "type": entry.type,
            "created_time": str(at_ms // 1000),
            "user": short_user(actor),
        }
        if entry.media_id is not None:
            card = cards.get(entry.media_id)
            if card is None:
                continue
            item["media"] = {
                "id": media_ref(media_id=card.id, user_id=card.user_id),
                "link": permalink(card.id),
                "images": {"thumbnail": thumbnail(card)},
            }
        if entry.text is not None:
            item["text"] = entry.text
        if entry.comment_id is not None:
            item["comment_id"] = str(entry.comment_id)
        for other_id, name in ((entry.owner_id, "media_owner"), (entry.target_id, "target_user")):
            if other_id is not None:
                other = people.get(other_id)
                if other is None or other.id in blocked:  # a block hides either from the other
                    break
                item[name] = short_user(other)
        else:
            entries.append(item)
    cursor = raw[-1][1] if len(raw) == count else None
    return entries, cursor
