"""The hashtag and location indexes of media, kept incrementally as media come and go.

Each tag's entries (`TagMedia`) live on one logical shard chosen from the
tag's name, and each location's (`LocationMedia`) on the shard its id
names, so `/v1/tags/{name}/media/recent` and `/v1/locations/{id}/media/recent`
are one index scan on one shard, newest first by media id: a request never
visits every shard. The per-tag count (`Tag`, main database) is what
`/v1/tags/{name}` and the prefix search show.

Entries are written after the media's own transaction commits, one short
transaction per entry: inserting an entry that exists changes nothing, and
a tag's count moves only when an entry was really inserted or deleted, so
indexing the same media twice (a retried upload) counts it once.
"""

import zlib
from typing import Any

from django.conf import settings
from django.db import connections

from photos.models import LocationMedia, Tag, TagMedia
from sharding.models import ShardedModel
from sharding.routing import insert_unless_exists, read_rows, use_shard


def tag_shard(name: str) -> int:
    """Return the logical shard that holds tag `name`'s index (a stable hash of the name)."""
    return zlib.crc32(name.encode()) % settings.LOGICAL_SHARDS


def location_shard(location_id: int) -> int:
    return location_id % settings.LOGICAL_SHARDS


# -------------------------------------------------------------------- writes


def index_media_tags(*, media_id: int, owner_id: int, tags: list[str]) -> None:
    """Add `media_id` to the index of each of `tags` (already normalized)."""
    for name in sorted(set(tags)):
        if _add(TagMedia, tag_shard(name), tag=name, media_id=media_id, owner_id=owner_id):
            _count(name, +1)


def unindex_media_tags(*, media_id: int, tags: list[str]) -> None:
    """Remove `media_id` from the index of each of `tags`."""
    for name in sorted(set(tags)):
        with use_shard(tag_shard(name)):
            deleted, _ = TagMedia.objects.filter(tag=name, media_id=media_id).delete()
        if deleted:
            _count(name, -1)


def index_location_media(*, media_id: int, owner_id: int, location_id: int) -> None:
    shard = location_shard(location_id)
    _add(LocationMedia, shard, location_id=location_id, media_id=media_id, owner_id=owner_id)


def unindex_location_media(*, media_id: int, location_id: int) -> None:
    with use_shard(location_shard(location_id)):
        LocationMedia.objects.filter(location_id=location_id, media_id=media_id).delete()


def _add(model: type[ShardedModel], shard: int, **values: Any) -> bool:
    """Insert one index entry on `shard` unless it exists; say whether it was new."""
    with use_shard(shard):
        return insert_unless_exists(model, **values) is not None


def _count(name: str, change: int) -> None:
    """Move tag `name`'s count by `change` (an upsert: two first uses of a tag at once both count)."""
    table = Tag._meta.db_table
    with connections["default"].cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (name, media_count) VALUES (%s, GREATEST(%s, 0)) "  # noqa: S608
            f"ON CONFLICT (name) DO UPDATE SET media_count = GREATEST({table}.media_count + %s, 0)",
            [name, change, change],
        )


# --------------------------------------------------------------------- reads


def tag_media_ids(*, name: str, max_id: int | None, min_id: int | None, count: int) -> list[int]:
    """Return one page of tag `name`'s media ids, newest first, below max_id and above min_id."""
    return _page(TagMedia, "tag", name, shard=tag_shard(name), max_id=max_id, min_id=min_id, count=count)


def location_media_ids(*, location_id: int, max_id: int | None, min_id: int | None, count: int) -> list[int]:
    """Return one page of the media ids taken at `location_id`, newest first."""
    shard = location_shard(location_id)
    return _page(
        LocationMedia, "location_id", location_id, shard=shard, max_id=max_id, min_id=min_id, count=count
    )


def _page(
    model: type[ShardedModel],
    column: str,
    value: object,
    *,
    shard: int,
    max_id: int | None,
    min_id: int | None,
    count: int,
) -> list[int]:
    """One index scan as one statement (read_rows: no standby probe before it)."""
    where, values = [f"{column} = %s"], [value]
    if max_id is not None:
        where.append("media_id < %s")
        values.append(max_id)
    if min_id is not None:
        where.append("media_id > %s")
        values.append(min_id)
    sql = (
        f"SELECT media_id FROM {model._meta.db_table} WHERE {' AND '.join(where)} "  # noqa: S608
        "ORDER BY media_id DESC LIMIT %s"
    )
    return [media_id for (media_id,) in read_rows(shard, sql, [*values, count])]


def tag_info(name: str) -> Tag | None:
    return Tag.objects.filter(name=name).first()


SHORT_TAG = 3  # a query shorter than this matches its own tag only, as v1's tags/search did


def search_tags(*, prefix: str, count: int) -> list[Tag]:
    """Return up to `count` tags for a search: the exact match first, then those starting with `prefix`,
    the most used first (a range scan on the name). A short query is an exact match only."""
    exact = list(Tag.objects.filter(name=prefix, media_count__gt=0)[:1])
    if len(prefix) < SHORT_TAG:
        return exact[:count]
    others = Tag.objects.filter(name__startswith=prefix, media_count__gt=0).exclude(name=prefix)
    return (exact + list(others.order_by("-media_count", "name")[: max(count - len(exact), 0)]))[:count]
