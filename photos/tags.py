"""The hashtag index, kept incrementally as media come and go.

Each tag's entries (`TagMedia`: tag, media id, owner) live on one logical
shard chosen from the tag's name, so `/v1/tags/{name}/media/recent` is one
index scan on one shard, newest first by media id, and a request never
visits every shard. The per-tag count (`Tag`, main database) is what
`/v1/tags/{name}` and the prefix search show.

Entries are written after the media's own transaction commits, one short
transaction per tag: inserting an entry that exists changes nothing, and
the count moves only when an entry was really inserted or deleted, so
indexing the same media twice (a retry) counts it once.
"""

import zlib

from django.conf import settings
from django.db import connections

from photos.models import Tag, TagMedia
from sharding.routing import current_shard, use_shard


def tag_shard(name: str) -> int:
    """Return the logical shard that holds tag `name`'s index (a stable hash of the name)."""
    return zlib.crc32(name.encode()) % settings.LOGICAL_SHARDS


def index_media_tags(*, media_id: int, owner_id: int, tags: list[str]) -> None:
    """Add `media_id` to the index of each of `tags` (already normalized)."""
    for name in sorted(set(tags)):
        with use_shard(tag_shard(name)):
            inserted = _insert_entry(name, media_id, owner_id)
        if inserted:
            _count(name, +1)


def unindex_media_tags(*, media_id: int, tags: list[str]) -> None:
    """Remove `media_id` from the index of each of `tags`."""
    for name in sorted(set(tags)):
        with use_shard(tag_shard(name)):
            deleted, _ = TagMedia.objects.filter(tag=name, media_id=media_id).delete()
        if deleted:
            _count(name, -1)


def _insert_entry(name: str, media_id: int, owner_id: int) -> bool:
    table = TagMedia._meta.db_table
    with connections[current_shard().alias].cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (tag, media_id, owner_id) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",  # noqa: S608
            [name, media_id, owner_id],
        )
        return bool(cursor.rowcount == 1)


def _count(name: str, change: int) -> None:
    """Move tag `name`'s count by `change` (an upsert: two first uses of a tag at once both count)."""
    table = Tag._meta.db_table
    with connections["default"].cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (name, media_count) VALUES (%s, GREATEST(%s, 0)) "  # noqa: S608
            f"ON CONFLICT (name) DO UPDATE SET media_count = GREATEST({table}.media_count + %s, 0)",
            [name, change, change],
        )


def tag_media_ids(*, name: str, max_id: int | None, min_id: int | None, count: int) -> list[tuple[int, int]]:
    """Return one page of tag `name`'s (media id, owner id), newest first, below max_id and above min_id."""
    with use_shard(tag_shard(name), read_only=True):
        entries = TagMedia.objects.filter(tag=name)
        if max_id is not None:
            entries = entries.filter(media_id__lt=max_id)
        if min_id is not None:
            entries = entries.filter(media_id__gt=min_id)
        return list(entries.order_by("-media_id").values_list("media_id", "owner_id")[:count])


def tag_info(name: str) -> Tag | None:
    return Tag.objects.filter(name=name).first()


def search_tags(*, prefix: str, count: int) -> list[Tag]:
    """Return up to `count` tags starting with `prefix`, the most used first (a range scan on the name)."""
    tags = Tag.objects.filter(name__startswith=prefix, media_count__gt=0)
    return list(tags.order_by("-media_count", "name")[:count])
