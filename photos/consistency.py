"""Finding and repairing media and user counters that drifted from their rows (a crash between commits).

Writers keep counts exact (photos.actions, relationships.actions); what is
left is a crash between the media's shard commit and the main database's
(an upload, a delete), or a hand edit. `manage.py verify_counts` scans every
shard with one query each and repairs under the same locks the writers
take: the media row for its like and comment counts, the user's row for
their media count, the pair's and users' for follows (relationships.consistency).
"""

from collections import defaultdict
from dataclasses import dataclass

from django.db import connections, transaction

from photos.actions import lock_media
from photos.cache import forget_cards_on_commit
from photos.models import Comment, Like, Media
from sharding.routing import shard_for_id, shard_for_user, shard_map
from sharding.sql import schema_name
from users.cache import forget_profiles_on_commit
from users.models import User


@dataclass(frozen=True)
class MediaDrift:
    media_id: int
    like_count: int
    likes: int
    comment_count: int
    comments: int


def media_drift_in_shard(shard: int) -> tuple[list[MediaDrift], dict[int, int]]:
    """Return the media on `shard` whose counts differ from their rows, and each owner's number of media."""
    schema = schema_name(shard)  # a name made from an int: nothing from outside reaches the SQL text
    sql = (
        "SELECT m.id, m.user_id, m.like_count, m.comment_count,"  # noqa: S608
        f" (SELECT count(*) FROM {schema}.media_like l WHERE l.media_id = m.id),"
        f" (SELECT count(*) FROM {schema}.media_comment c WHERE c.media_id = m.id)"
        f" FROM {schema}.media m"
    )
    drift: list[MediaDrift] = []
    owned: dict[int, int] = defaultdict(int)
    with connections[shard_map().database(shard)].cursor() as cursor:
        cursor.execute(sql)
        for media_id, user_id, like_count, comment_count, likes, comments in cursor.fetchall():
            owned[int(user_id)] += 1
            if (like_count, comment_count) != (likes, comments):
                drift.append(MediaDrift(int(media_id), like_count, likes, comment_count, comments))
    return drift, owned


def media_miscounted_users(owned: dict[int, int]) -> list[tuple[int, int, int]]:
    """Return (user, stored media count, media rows) for each user whose count differs from `owned`.

    `owned` counts every user's media on all shards; users with none must
    have zero, and those with more are found by an indexed scan of accounts.
    """
    wrong: list[tuple[int, int, int]] = []
    users = User.objects.filter(id__in=list(owned)) | User.objects.filter(media_count__gt=0)
    for user_id, media_count in users.values_list("id", "media_count").iterator(chunk_size=10_000):
        if media_count != owned.get(user_id, 0):
            wrong.append((user_id, media_count, owned.get(user_id, 0)))
    return wrong


def do_recount_media(*, media_id: int) -> None:
    """Set the media's like and comment counts to its rows, holding its row lock as every writer does."""
    with shard_for_id(media_id) as shard:
        if not lock_media(media_id):
            return
        likes = Like.objects.filter(media_id=media_id).count()
        comments = Comment.objects.filter(media_id=media_id).count()
        Media.objects.filter(id=media_id).update(like_count=likes, comment_count=comments)
        forget_cards_on_commit(media_id, using=shard.alias)


def do_recount_user_media(*, user_id: int) -> None:
    """Set the user's media count to their media rows, under their row lock (the lock uploads take)."""
    with transaction.atomic(using="default"):
        User.objects.select_for_update(no_key=True).filter(id=user_id).values_list("id").first()
        with shard_for_user(user_id):
            media = Media.objects.filter(user_id=user_id).count()
        User.objects.filter(id=user_id).update(media_count=media)
        forget_profiles_on_commit(user_id)
