"""Media cards: everything a v1 media object shows except who is looking, cached in memcached.

A card is the media row plus its newest likers and comments and its
location's name. Cards are read many at once (a page of a user's photos, a
tag, a feed): memcached `get_many` first, then, for what it missed, one
query per physical database for each of media, likes and comments (a UNION
ALL over the logical shards involved), never one query per media. A like,
comment, edit or delete bumps the card's version on commit
(instagram.versioned_cache), so a racing reader can't put a stale card back.
"""

from dataclasses import dataclass
from datetime import datetime

from instagram.versioned_cache import Read, VersionedCache
from photos.models import Comment, Like, Location, Media
from sharding.multiget import fetch_many, query_shards

LIKES_SHOWN = 4  # likers listed in likes.data, as the 2011 app's "liked by a, b, c and d"
COMMENTS_SHOWN = 8  # newest comments in comments.data, as v1 returned


@dataclass(frozen=True)
class CommentCard:
    id: int
    user_id: int
    text: str
    created_at: datetime


@dataclass(frozen=True)
class LocationCard:
    id: int | None  # None: coordinates without a named place
    name: str | None
    latitude: float
    longitude: float


@dataclass(frozen=True)
class TaggedUser:
    """A person tagged in the photo, at (x, y) in 0..1 from its top left."""

    user_id: int
    x: float
    y: float


@dataclass(frozen=True)
class MediaCard:
    id: int
    user_id: int
    caption: str
    caption_id: int  # the caption's comment id (the media id for rows older than caption_id)
    filter_name: str
    object_prefix: str
    tags: tuple[str, ...]
    location: LocationCard | None
    like_count: int
    comment_count: int
    created_at: datetime
    likers: tuple[int, ...]  # newest first, at most LIKES_SHOWN
    comments: tuple[CommentCard, ...]  # oldest first, the newest COMMENTS_SHOWN
    users_in_photo: tuple[TaggedUser, ...]


# The namespace changes with the card's fields, so a copy cached by older code is never read as a card.
CARDS: VersionedCache[MediaCard] = VersionedCache("photos.media.2", kind=MediaCard)


def media_cards(ids: list[int]) -> dict[int, MediaCard]:
    """Return the cards of the media among `ids` that exist, keyed by id."""
    return CARDS.get_many(ids, _load_cards)


def cards_read(ids: list[int]) -> Read[MediaCard]:
    """media_cards(ids) as a part of a versioned_cache.read_together() (one round trip with other kinds)."""
    return Read(CARDS, ids, _load_cards)


def forget_cards_on_commit(*media_ids: int, using: str) -> None:
    """Drop the cached cards once the transaction on `using` (the media's shard) commits."""
    CARDS.forget_on_commit(*media_ids, using=using)


def _load_cards(ids: list[int]) -> dict[int, MediaCard]:
    rows = fetch_many(Media, ids)
    if not rows:
        return {}
    present = list(rows)
    likers: dict[int, list[tuple[int, int]]] = {i: [] for i in present}
    for _, found in query_shards(present, _newest(Like._meta.db_table, "id, media_id, user_id", LIKES_SHOWN)):
        for like_id, media_id, user_id in found:
            likers[media_id].append((like_id, user_id))
    comments: dict[int, list[CommentCard]] = {i: [] for i in present}
    columns = "id, media_id, user_id, text, created_at"
    for _, found in query_shards(present, _newest(Comment._meta.db_table, columns, COMMENTS_SHOWN)):
        for comment_id, media_id, user_id, text, created_at in found:
            comments[media_id].append(
                CommentCard(id=comment_id, user_id=user_id, text=text, created_at=created_at)
            )
    places = Location.objects.in_bulk([m.location_id for m in rows.values() if m.location_id is not None])
    return {
        media.id: MediaCard(
            id=media.id,
            user_id=media.user_id,
            caption=media.caption,
            caption_id=media.caption_id or media.id,
            filter_name=media.filter_name,
            object_prefix=media.object_prefix,
            tags=tuple(media.tags),
            location=_location(media, places),
            like_count=media.like_count,
            comment_count=media.comment_count,
            created_at=media.created_at,
            likers=tuple(user_id for _, user_id in sorted(likers[media.id], reverse=True)),
            comments=tuple(sorted(comments[media.id], key=lambda c: c.id)),
            users_in_photo=tuple(
                TaggedUser(user_id=int(tag["user_id"]), x=float(tag["x"]), y=float(tag["y"]))
                for tag in media.users_in_photo
            ),
        )
        for media in rows.values()
    }


def _newest(table: str, columns: str, count: int) -> str:
    """A per-shard SELECT of the newest `count` rows of `table` per media id (names from models, no input)."""
    window = "row_number() OVER (PARTITION BY media_id ORDER BY id DESC)"
    inner = f"SELECT {columns}, {window} AS n FROM {{schema}}.{table} WHERE media_id = ANY(%s)"  # noqa: S608
    return f"SELECT {columns} FROM ({inner}) AS newest WHERE n <= {count}"  # noqa: S608


def _location(media: Media, places: dict[int, Location]) -> LocationCard | None:
    if media.location_id is not None and media.location_id in places:
        place = places[media.location_id]
        return LocationCard(id=place.id, name=place.name, latitude=place.latitude, longitude=place.longitude)
    if media.latitude is not None and media.longitude is not None:
        return LocationCard(id=None, name=None, latitude=media.latitude, longitude=media.longitude)
    return None
