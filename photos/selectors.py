"""Reads of media: who may see which photo, pages of ids, and the v1 media object.

Visibility is the accounts rule (users.selectors): a media is visible to
its owner, and to others unless a block stands between them or the owner is
private and the viewer not an approved follower. A block is mutual
invisibility, as in the 2011 app: neither of the two sees the other's
media (the blocked user is told it does not exist), nor the other among a media's likers or
commenters, in the embedded likes and comments or in the full lists. The
viewer's block set is read once per request (blocked_ids: one query). It is checked for a whole
page at once: one multi-get of the owners' profiles and one query of the
viewer's edges towards them.
"""

import logging
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from redis.exceptions import RedisError

from instagram.errors import APINotAllowedError, APINotFoundError
from instagram.request_memo import recalled, remember
from instagram.versioned_cache import read_together
from photos import photomap
from photos.cache import COMMENTS_SHOWN, CommentCard, MediaCard, cards_read
from photos.filters import filter_display_name
from photos.imaging import RENDITIONS
from photos.models import Comment, Like, LikedMedia, Media
from photos.refs import media_id_from_ref, media_ref, owner_hint, shortcode
from photos.storage import cdn_url, is_video_prefix, profile_picture_url, rendition_key, video_key
from photos.video import VIDEO_SIDES
from relationships.models import Kind
from relationships.selectors import blocked_ids, states_towards, states_with
from relationships.transitions import State
from sharding.multiget import query_shards
from sharding.routing import shard_for_id, shard_for_user, user_shard
from users.cache import Profile, cached_profiles_read, profiles, profiles_read
from users.models import User
from users.selectors import may_see_content

logger = logging.getLogger(__name__)


def access_media(*, viewer: User | None, ref: str) -> MediaCard:
    """Return the media `ref` names if the viewer may see it (access_media_and_owner)."""
    return access_media_and_owner(viewer=viewer, ref=ref)[0]


def access_media_and_owner(*, viewer: User | None, ref: str) -> tuple[MediaCard, Profile]:
    """Return the media `ref` names and its owner's profile if the viewer may see it.

    APINotFoundError when it does not exist or its owner blocks the viewer,
    APINotAllowedError when the viewer blocks its owner (the blocker knows
    whom they blocked, as on the profile) or it is a private account's the
    viewer may not see.
    """
    media_id = media_id_from_ref(ref)
    # The ref's user part names the owner as a rule: card and owner in one round trip. Only a hint,
    # read from memcached only (a made-up one costs no query): the card's own user id decides, and a
    # wrong or uncached hint costs a second read.
    hint = owner_hint(ref)
    cards, hinted = read_together(cards_read([media_id]), cached_profiles_read([hint] if hint else []))
    card = cards.get(media_id)
    owner = None
    if card is not None:
        owner = hinted[card.user_id] if card.user_id in hinted else profiles([card.user_id]).get(card.user_id)
    if card is None or owner is None:
        raise APINotFoundError(f"No media with id {ref[:40]}.")
    state = _states(viewer, {owner.id}, media_ids=[card.id]).get(owner.id, frozenset())
    if Kind.BLOCKED_BY in state:
        raise APINotFoundError(f"No media with id {ref[:40]}.")
    if not _may_see(viewer, owner, state):
        raise APINotAllowedError("you cannot view this resource")
    return card, owner


def _states(viewer: User | None, owner_ids: set[int], media_ids: Iterable[int] = ()) -> dict[int, State]:
    """The viewer's edges towards `owner_ids`; with `media_ids`, which of them the viewer likes is read
    in the same round trip and kept for the request's liked_by (the page's media objects ask next).
    """
    if viewer is None:
        return {}
    wanted = sorted(set(media_ids))
    if not wanted:
        return states_towards(viewer_id=viewer.id, other_ids=owner_ids)
    liked = f"SELECT media_id FROM {LikedMedia._meta.db_table} WHERE user_id = %s AND media_id = ANY(%s)"  # noqa: S608
    states, found = states_with(viewer_id=viewer.id, other_ids=owner_ids, along=(liked, [viewer.id, wanted]))
    remember(_liked_key(viewer.id), (frozenset(wanted), frozenset(found)))
    return states


def _liked_key(user_id: int) -> tuple[str, int]:
    return ("liked_by", user_id)


def _may_see(viewer: User | None, owner: Profile, state: State) -> bool:
    if viewer is None:
        return not owner.is_private
    return may_see_content(viewer_id=viewer.id, owner=owner, state=state)


def visible_cards(*, viewer: User | None, ids: Iterable[int]) -> list[MediaCard]:
    """Return the cards of `ids` the viewer may see, in the order of `ids`.

    The owners come from the photo->user map (Redis); the cards and the
    owners' profiles then come in one memcached round trip, and the media
    the viewer may not see (a private account's, in a tag page) are dropped.
    A media missing from the map is checked from its card.
    """
    wanted = list(ids)
    mapped = owners_of_media(wanted)
    cards, owners = read_together(cards_read(wanted), profiles_read(set(mapped.values())))
    states = _states(viewer, set(owners), media_ids=wanted)
    visible_owners = {i for i, owner in owners.items() if _may_see(viewer, owner, states.get(i, frozenset()))}
    unmapped = {card.user_id for i, card in cards.items() if i not in mapped} - set(owners)
    if unmapped:
        more = profiles(unmapped)
        more_states = _states(viewer, set(more))
        visible_owners |= {i for i, o in more.items() if _may_see(viewer, o, more_states.get(i, frozenset()))}
    return [
        cards[i]
        for i in wanted
        if i in cards
        and cards[i].user_id in visible_owners
        and mapped.get(i, cards[i].user_id) == cards[i].user_id
    ]


def first_visible_cards(*, viewer: User | None, ids: list[int], count: int) -> list[MediaCard]:
    """Return the first `count` cards of `ids` (best first) the viewer may see.

    `count` and a quarter more are read first, the rest only when too many
    of those were hidden: a page of ranked candidates (popular) reads about
    the cards it shows, not every candidate.
    """
    first = count + max(count // 4, 2)
    cards = visible_cards(viewer=viewer, ids=ids[:first])
    if len(cards) < count and len(ids) > first:
        cards += visible_cards(viewer=viewer, ids=ids[first:])
    return cards[:count]


def owners_of_media(media_ids: list[int]) -> dict[int, int]:
    """Return the owners the photo->user map knows of `media_ids`; Redis trouble is a miss."""
    try:
        return photomap.owners_of(media_ids)
    except RedisError as exc:
        logger.warning("photo->user map unavailable: %s", exc)
        return {}


def recent_media_ids(
    *,
    owner_id: int,
    max_id: int | None,
    min_id: int | None,
    min_time: datetime | None,
    max_time: datetime | None,
    count: int,
) -> list[int]:
    """Return one page of `owner_id`'s media ids, newest first, within the id and time bounds.

    One index scan on the owner's shard (media_user_recent).
    """
    with shard_for_user(owner_id, read_only=True):
        media = Media.objects.filter(user_id=owner_id)
        if max_id is not None:
            media = media.filter(id__lt=max_id)
        if min_id is not None:
            media = media.filter(id__gt=min_id)
        if min_time is not None:
            media = media.filter(created_at__gte=min_time)
        if max_time is not None:
            media = media.filter(created_at__lte=max_time)
        return list(media.order_by("-id").values_list("id", flat=True)[:count])


def liked_media_page(*, user_id: int, before: int | None, count: int) -> tuple[list[int], int | None]:
    """Return the media `user_id` liked, newest like first, and the cursor of the next page (a like id)."""
    with shard_for_user(user_id, read_only=True):
        likes = LikedMedia.objects.filter(user_id=user_id)
        if before is not None:
            likes = likes.filter(id__lt=before)
        rows = list(likes.order_by("-id").values_list("id", "media_id")[: count + 1])
    page = rows[:count]
    return [media_id for _, media_id in page], (page[-1][0] if len(rows) > count else None)


def liked_by(*, user_id: int, media_ids: list[int]) -> set[int]:
    """Return which of `media_ids` `user_id` likes (one query on the user's own shard).

    No query when this request already read them with the page's states (_states).
    """
    if not media_ids:
        return set()
    read: tuple[frozenset[int], frozenset[int]] | None = recalled(_liked_key(user_id))
    if read is not None and read[0].issuperset(media_ids):
        return set(read[1].intersection(media_ids))
    with shard_for_user(user_id, read_only=True):
        found = LikedMedia.objects.filter(user_id=user_id, media_id__in=media_ids)
        return set(found.values_list("media_id", flat=True))


def hidden_from(viewer: User | None) -> set[int]:
    """Return the users a block hides from the viewer, either way (none for an anonymous viewer)."""
    return blocked_ids(viewer_id=viewer.id) if viewer is not None else set()


def likers_of(*, viewer: User | None, card: MediaCard, count: int) -> list[Profile]:
    """Return the newest `count` users who like the media, but those a block hides from the viewer."""
    hidden = hidden_from(viewer)
    with shard_for_id(card.id, read_only=True, for_user=viewer.id if viewer else None):
        likes = Like.objects.filter(media_id=card.id).exclude(user_id__in=hidden)
        ids = list(likes.order_by("-id").values_list("user_id", flat=True)[:count])
    found = profiles(ids)
    return [found[i] for i in ids if i in found]


def comments_on(*, viewer: User | None, card: MediaCard, count: int) -> list[Comment | CommentCard]:
    """Return the caption, then the newest `count` comments, oldest first, as GET .../comments lists them.

    v1 listed the caption as the owner's first comment. Comments of users a
    block hides from the viewer are left out.
    """
    hidden = hidden_from(viewer)
    with shard_for_id(card.id, read_only=True, for_user=viewer.id if viewer else None):
        comments = Comment.objects.filter(media_id=card.id).exclude(user_id__in=hidden)
        newest = list(comments.order_by("-id")[:count])
    caption = caption_comment(card)
    return [*([caption] if caption else []), *newest[::-1]]


def permalink(media_id: int) -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/p/{shortcode(media_id)}/"


def epoch(moment: datetime) -> str:
    """v1 times: epoch seconds, as a string."""
    return str(int(moment.timestamp()))


def media_objects(*, viewer: User | None, cards: list[MediaCard]) -> list[dict[str, Any]]:
    """Return `cards` as v1 media objects, with one multi-get for every user they mention.

    The users a block hides from the viewer are left out of the embedded likes, comments and
    users_in_photo.
    """
    hidden = hidden_from(viewer) if cards else set()
    people = profiles(
        {card.user_id for card in cards}
        | {liker for card in cards for liker in card.likers}
        | {comment.user_id for card in cards for comment in card.comments}
        | {tag.user_id for card in cards for tag in card.users_in_photo}
    )
    liked = liked_by(user_id=viewer.id, media_ids=[card.id for card in cards]) if viewer else set()
    # Each person's short object is made once for the page, however many cards name them.
    shown = {user_id: short_user(person) for user_id, person in people.items() if user_id not in hidden}
    return [_media_object(card, shown, card.id in liked) for card in cards if card.user_id in shown]


def _media_object(card: MediaCard, people: dict[int, dict[str, Any]], has_liked: bool) -> dict[str, Any]:
    owner = people[card.user_id]
    caption = caption_comment(card)
    return {
        **_fixed_fields(card.id, card.user_id, card.created_at, card.object_prefix, card.filter_name),
        "caption": _comment(caption, owner) if caption else None,
        "likes": {
            "count": card.like_count,
            "data": [people[i] for i in card.likers if i in people],
        },
        "comments": {
            # The caption is the owner's first comment (v1): counted, and listed while among the newest.
            "count": card.comment_count + (1 if caption else 0),
            "data": [
                _comment(c, people[c.user_id])
                for c in [*([caption] if caption else []), *card.comments][-COMMENTS_SHOWN:]
                if c.user_id in people
            ],
        },
        "user_has_liked": has_liked,
        "tags": list(card.tags),
        "location": (
            {
                "id": str(card.location.id) if card.location.id is not None else None,
                "name": card.location.name,
                "latitude": card.location.latitude,
                "longitude": card.location.longitude,
            }
            if card.location
            else None
        ),
        "users_in_photo": [
            {"user": people[tag.user_id], "position": {"x": tag.x, "y": tag.y}}
            for tag in card.users_in_photo
            if tag.user_id in people
        ],
        "attribution": None,
        "user": owner,
    }


@lru_cache(maxsize=20_000)
def _fixed_fields(
    media_id: int, user_id: int, created_at: datetime, object_prefix: str, filter_name: str
) -> dict[str, Any]:
    """The parts of a media object no later write changes: made once per process and media.

    Its id, time, link, filter and the CDN URLs of its renditions depend only
    on these arguments (a media's own columns, never updated) and on the
    settings naming the CDN and the site, which clear this cache when a test
    overrides them. The objects are shared by every response that includes
    the media: they are serialized, never changed.
    """
    video = is_video_prefix(object_prefix)
    return {
        "id": media_ref(media_id=media_id, user_id=user_id),
        "type": "video" if video else "image",
        "created_time": epoch(created_at),
        "link": permalink(media_id),
        "filter": filter_display_name(filter_name),
        "images": {
            name: {"url": cdn_url(rendition_key(object_prefix, name)), "width": size, "height": size}
            for name, size in RENDITIONS.items()
        },
        **({"videos": video_objects(object_prefix)} if video else {}),
    }


@receiver(setting_changed)
def _settings_changed(*, setting: str, **_: Any) -> None:
    if setting in ("CDN_URL", "PUBLIC_BASE_URL"):
        _fixed_fields.cache_clear()


def caption_comment(card: MediaCard) -> CommentCard | None:
    """Return the caption as v1 served it: the owner's first comment, under its own comment id."""
    if not card.caption:
        return None
    return CommentCard(
        id=card.caption_id, user_id=card.user_id, text=card.caption, created_at=card.created_at
    )


def video_objects(prefix: str) -> dict[str, dict[str, Any]]:
    """v1's `videos` of a video media: its square MP4 renditions' URLs and sizes."""
    return {
        name: {"url": cdn_url(video_key(prefix, name)), "width": side, "height": side}
        for name, side in VIDEO_SIDES.items()
    }


def short_user(user: Profile | User) -> dict[str, Any]:
    """The short user object v1 put in media, likes and comments."""
    return {
        "id": str(user.id),
        "username": user.username,
        "full_name": user.full_name,
        "profile_picture": profile_picture_url(user.profile_picture),
    }


def comment_object(comment: Comment | CommentCard, author: Profile | User) -> dict[str, Any]:
    return _comment(comment, short_user(author))


def _comment(comment: Comment | CommentCard, author: dict[str, Any]) -> dict[str, Any]:
    """A v1 comment object, its author's short object already made."""
    return {
        "id": str(comment.id),
        "text": comment.text,
        "created_time": epoch(comment.created_at),
        "from": author,
    }


def comment_objects(comments: list[Comment | CommentCard]) -> list[dict[str, Any]]:
    """Return `comments` as v1 comment objects (one multi-get of their authors)."""
    authors = profiles({c.user_id for c in comments})
    return [comment_object(c, authors[c.user_id]) for c in comments if c.user_id in authors]


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
