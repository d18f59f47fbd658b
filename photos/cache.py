"""Media cards: everything a v1 media object shows except who is looking, cached in memcached.

A card is the media row plus its newest likers and comments and its
location's name. Cards are read many at once (a page of a user's photos, a
tag, a feed): memcached `get_many` first, then, for what it missed, one
query per physical database (a UNION ALL over the logical shards involved)
that reads each media with its newest likes and comments, never one query
per media. A like,
comment, edit or delete bumps the card's version on commit
(instagram.versioned_cache), so a racing reader can't put a stale card back.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models.signals import post_delete, post_save

from instagram.versioned_cache import Read, VersionedCache
from photos.models import Comment, Like, Location, Media
from sharding.multiget import query_shards, row_reader

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
    """The cards of `ids` that exist: one statement per physical database (query_shards).

    Each media row comes with its newest likers and comments, read by
    correlated LIMIT subqueries on the (media_id, -id) indexes: three round
    trips were one (docs/performance.md, change 22), and a media with a
    hundred thousand likes costs what one with four does. The primary, as a
    versioned cache fill must: a standby's older row would be stored under
    the current version.
    """
    columns, make = row_reader(Media, table_alias="m")
    likes, comments = Like._meta.db_table, Comment._meta.db_table
    select = (
        f"SELECT {columns}, "  # noqa: S608 (names from models, no input)
        f"ARRAY(SELECT l.user_id FROM {{schema}}.{likes} AS l WHERE l.media_id = m.id "
        f"ORDER BY l.id DESC LIMIT {LIKES_SHOWN}), "
        "(SELECT json_agg(json_build_array(c.id, c.user_id, c.text, c.created_at) ORDER BY c.id) "
        f"FROM (SELECT id, user_id, text, created_at FROM {{schema}}.{comments} "
        f"WHERE media_id = m.id ORDER BY id DESC LIMIT {COMMENTS_SHOWN}) AS c) "
        f"FROM {{schema}}.{Media._meta.db_table} AS m WHERE m.id = ANY(%s)"
    )
    rows: list[tuple[Media, list[int], list[list[Any]] | None]] = [
        (make(alias, row), row[-2], row[-1]) for alias, found in query_shards(ids, select) for row in found
    ]
    if not rows:
        return {}
    places = Location.objects.in_bulk([m.location_id for m, _, _ in rows if m.location_id is not None])
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
            likers=tuple(likers),
            comments=tuple(
                CommentCard(id=c[0], user_id=c[1], text=c[2], created_at=datetime.fromisoformat(c[3]))
                for c in newest or []
            ),
            users_in_photo=tuple(
                TaggedUser(user_id=int(tag["user_id"]), x=float(tag["x"]), y=float(tag["y"]))
                for tag in media.users_in_photo
            ),
        )
        for media, likers, newest in rows
    }


def _location(media: Media, places: dict[int, Location]) -> LocationCard | None:
    if media.location_id is not None and media.location_id in places:
        place = places[media.location_id]
        return _place_card(place)
    if media.latitude is not None and media.longitude is not None:
        return LocationCard(id=None, name=None, latitude=media.latitude, longitude=media.longitude)
    return None


# Named places never change but by an admin's edit, which bumps them (photos.apps): a location page
# reads its place from memcached, not from the main database (docs/performance.md, change 29).
LOCATIONS: VersionedCache[LocationCard] = VersionedCache("photos.location", kind=LocationCard)


def location_card(location_id: int) -> LocationCard | None:
    """The named place `location_id`, or None when there is none."""
    return LOCATIONS.get_many([location_id], _load_locations).get(location_id)


def _load_locations(ids: list[int]) -> dict[int, LocationCard]:
    return {place.id: _place_card(place) for place in Location.objects.filter(id__in=ids)}


def _place_card(place: Location) -> LocationCard:
    return LocationCard(id=place.id, name=place.name, latitude=place.latitude, longitude=place.longitude)


def _location_changed(sender: type, instance: Location, **kwargs: Any) -> None:
    LOCATIONS.forget_on_commit(instance.id, using=kwargs.get("using") or "default")


def connect_signals() -> None:
    """Called once from PhotosConfig.ready(): a saved or deleted place is read afresh."""
    for name, signal in (("save", post_save), ("delete", post_delete)):
        signal.connect(_location_changed, sender=Location, dispatch_uid=f"photos-location-{name}")
