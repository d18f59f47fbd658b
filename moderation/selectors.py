"""Reads for operators: a user's photos and the comments on them, from the user's shard.

The admin's default database router refuses sharded models outside a shard
context, so these read through the routing API, as the v1 endpoints do.
Comments a user wrote on others' photos are spread over every shard with no
index by author; they are reached through reports (each names its photo).
"""

from dataclasses import dataclass

from photos.models import Comment, Media
from photos.storage import cdn_url, rendition_key
from sharding.routing import shard_for_user


@dataclass(frozen=True)
class MediaRow:
    media: Media
    thumbnail_url: str
    comments: list[Comment]


def user_media_rows(*, user_id: int, count: int = 50, comments_each: int = 20) -> list[MediaRow]:
    """Return `user_id`'s newest `count` photos with their newest comments (two queries, one shard)."""
    with shard_for_user(user_id, read_only=True):
        media = list(Media.objects.filter(user_id=user_id).order_by("-id")[:count])
        by_media: dict[int, list[Comment]] = {m.id: [] for m in media}
        newest = Comment.objects.filter(media_id__in=list(by_media)).order_by("-id")
        for comment in newest[: count * comments_each]:
            if len(by_media[comment.media_id]) < comments_each:
                by_media[comment.media_id].append(comment)
    return [
        MediaRow(
            media=m,
            thumbnail_url=cdn_url(rendition_key(m.object_prefix, "thumbnail")),
            comments=by_media[m.id][::-1],
        )
        for m in media
    ]
