"""Writes to feeds and news, run by the workers (feeds.handlers) and the rebuild command.

Fan-out on write: a new photo goes into the feed of each follower, in
chunks of FEED_FANOUT_CHUNK followers; a list bigger than one chunk is
split into FEED_FANOUT jobs, so a post by someone with 100k followers
spreads over every worker. Each chunk reads its followers shard-locally
(one index range scan on the owner's shard) and writes their feeds with
one pipelined script call per 500 feeds. Everything here is idempotent:
adding an id to a sorted set twice, or removing it twice, changes nothing
the second time.

Accounts with more than FEED_FANOUT_MAX_FOLLOWERS followers are marked as
celebrities and never fanned out; feeds.selectors.feed_page merges their
recent media in when a follower reads. The mark is sticky (until
`rebuild_feeds` recomputes it) so an account that drops below the threshold
does not lose the posts it made while above it.
"""

import logging
import time
from collections.abc import Callable

from django.conf import settings
from redis import RedisError

from feeds import news, store
from feeds.jobs import FeedFanout, FeedRemove, NewsFanout
from instagram import rediskeys
from instagram.redis_client import redis_primary
from monitoring.stats import fanout_finished
from photos import photomap
from photos.selectors import recent_media_of
from relationships.selectors import followees, follower_chunks, followers_in
from users.models import User
from workers.jobs import JobPayload
from workers.submit import submit_job_on_commit

logger = logging.getLogger(__name__)

BACKFILL = 50  # a new follow brings this many of the followee's newest media into the feed


def mark_if_celebrity(user_id: int) -> bool:
    """Mark the account a celebrity (sticky) when it has too many followers to fan out; say if it is one."""
    count = User.objects.filter(id=user_id).values_list("followed_by_count", flat=True).first() or 0
    if count > settings.FEED_FANOUT_MAX_FOLLOWERS:
        store.mark_celebrity(user_id)
        return True
    return user_id in store.celebrities()


def for_each_follower_chunk(
    *, owner_id: int, job: Callable[[int, int], JobPayload], inline: Callable[[int, int], object]
) -> int:
    """Run `inline(after, last)` for a single chunk, or submit `job(after, last)` for each chunk.

    Returns the number of chunks.
    """
    chunks = follower_chunks(owner_id=owner_id, chunk=settings.FEED_FANOUT_CHUNK)
    if len(chunks) == 1:
        inline(*chunks[0])
    elif chunks:
        for after_edge, last_edge in chunks:
            submit_job_on_commit(job(after_edge, last_edge))
    return len(chunks)


# --------------------------------------------------------------------- posts


def do_fan_out_post(*, media_id: int, owner_id: int) -> None:
    """Put a new post in its owner's feed and, unless they are a celebrity, in every follower's."""
    store.add_to_feeds(user_ids=[owner_id], media_ids=[media_id])
    if mark_if_celebrity(owner_id):
        logger.info("media %s: owner %s is not fanned out (celebrity); merged at read", media_id, owner_id)
        fanout_finished(media_id=media_id)
        return
    progress = rediskeys.fanout_progress(media_id)
    client = redis_primary()
    with client.pipeline(transaction=False) as pipe:
        pipe.hsetnx(progress, "started", f"{time.time():.3f}")
        pipe.expire(progress, 86400)
        pipe.execute()
    chunks = for_each_follower_chunk(
        owner_id=owner_id,
        job=lambda after, last: FeedFanout(
            media_id=media_id, owner_id=owner_id, after_edge=after, last_edge=last
        ),
        inline=lambda after, last: do_fan_out_chunk(
            media_id=media_id, owner_id=owner_id, after_edge=after, last_edge=last
        ),
    )
    with client.pipeline(transaction=False) as pipe:
        pipe.hset(progress, "chunks", chunks)
        pipe.hget(progress, "chunks_done")
        _, done = pipe.execute()
    if chunks == 0:
        client.hset(progress, "finished", f"{time.time():.3f}")
    # The last chunk job may finish before `chunks` is written, or after:
    # whichever side sees every chunk done reports the end of the fan-out.
    if int(done or 0) >= chunks:
        fanout_finished(media_id=media_id)


def do_fan_out_chunk(*, media_id: int, owner_id: int, after_edge: int, last_edge: int) -> int:
    """Write one chunk of followers' feeds; return how many feeds were built (others are skipped)."""
    followers = followers_in(owner_id=owner_id, after_edge=after_edge, last_edge=last_edge)
    written = store.add_to_many_feeds(user_ids=followers, media_id=media_id)
    progress = rediskeys.fanout_progress(media_id)
    with redis_primary().pipeline(transaction=False) as pipe:
        pipe.hincrby(progress, "followers", len(followers))
        pipe.hincrby(progress, "feeds_written", written)
        pipe.hincrby(progress, "chunks_done", 1)
        pipe.hset(progress, "finished", f"{time.time():.3f}")
        pipe.hget(progress, "chunks")
        _, _, done, _, chunks = pipe.execute()
    if chunks is not None and done >= int(chunks):
        fanout_finished(media_id=media_id)
    return written


def do_remove_post(*, media_id: int, owner_id: int) -> None:
    """Take a deleted post out of its owner's feed and every follower's."""
    store.remove_from_feeds(user_ids=[owner_id], media_ids=[media_id])
    for_each_follower_chunk(
        owner_id=owner_id,
        job=lambda after, last: FeedRemove(
            media_ids=(media_id,), owner_id=owner_id, after_edge=after, last_edge=last
        ),
        inline=lambda after, last: do_remove_chunk(
            media_ids=[media_id], owner_id=owner_id, after_edge=after, last_edge=last
        ),
    )


def do_remove_chunk(*, media_ids: list[int], owner_id: int, after_edge: int, last_edge: int) -> None:
    followers = followers_in(owner_id=owner_id, after_edge=after_edge, last_edge=last_edge)
    store.remove_from_feeds(user_ids=followers, media_ids=media_ids)


# ------------------------------------------------------------- relationships


def do_backfill_feed(*, follower_id: int, followee_id: int) -> None:
    """A new follow: the followee's newest media join the follower's feed (if it is built)."""
    if followee_id in store.celebrities():
        return  # merged at read time
    media_ids = recent_media_of(user_ids=[followee_id], count=BACKFILL)
    store.add_to_feeds(user_ids=[follower_id], media_ids=media_ids)


def do_forget_followed_celebrities(*user_ids: int) -> None:
    """The users' follows changed: their next feed read asks PostgreSQL which celebrities they follow.

    Redis trouble costs only a log line: the change's job (RelationshipChanged) forgets them again,
    with retries, and the copy expires within the hour anyway.
    """
    try:
        store.forget_followed(*user_ids)
    except RedisError as exc:
        logger.warning("could not forget the followed celebrities of %s (Redis: %s)", user_ids, exc)


def do_remove_owner_from_feed(*, follower_id: int, owner_id: int) -> None:
    """An unfollow or a block: every media of `owner_id` leaves `follower_id`'s feed.

    The feed's ids are matched to owners with the photo->user map, so even
    media too old to be in the owner's recent list go.
    """
    ids = store.feed_ids(follower_id)
    owners = photomap.owners_of(ids)
    theirs = [media_id for media_id in ids if owners.get(media_id) == owner_id]
    store.remove_from_feeds(user_ids=[follower_id], media_ids=theirs)


# -------------------------------------------------------------------- rebuild


def do_rebuild_feed(*, user_id: int) -> int:
    """Rebuild one feed from PostgreSQL: the newest media of everyone the user follows, and their own.

    The feed is marked built before PostgreSQL is read, so a fan-out running
    meanwhile lands in it; the rebuild then merges what it read. Celebrities'
    media are left out: reads merge them in. Returns the number of entries.
    """
    store.mark_built(user_id=user_id)
    celebrities = store.celebrities()
    sources = [u for u in followees(user_id=user_id) if u not in celebrities] + [user_id]
    media_ids = recent_media_of(user_ids=sources, count=settings.FEED_SIZE)
    store.store(user_id=user_id, media_ids=media_ids)
    return len(media_ids)


def do_rebuild_celebrities() -> int:
    """Recompute the celebrity set from the follower counts (main database)."""
    ids = list(
        User.objects.filter(followed_by_count__gt=settings.FEED_FANOUT_MAX_FOLLOWERS).values_list(
            "id", flat=True
        )
    )
    store.replace_celebrities(ids)
    return len(ids)


# ----------------------------------------------------------------------- news


def do_add_news(*, user_ids: list[int], tab: str, entry: news.NewsEntry, at_ms: int) -> None:
    news.add(user_ids=user_ids, tab=tab, entry=entry, at_ms=at_ms)


def do_fan_out_news(*, actor_id: int, entry: news.NewsEntry, at_ms: int) -> None:
    """Put `entry` (something `actor_id` did) in each of their followers' "following" list."""
    if mark_if_celebrity(actor_id):
        return  # bounded cost: a celebrity's every like is not written to millions of lists
    for_each_follower_chunk(
        owner_id=actor_id,
        job=lambda after, last: NewsFanout(
            actor_id=actor_id, entry=entry, at_ms=at_ms, after_edge=after, last_edge=last
        ),
        inline=lambda after, last: do_fan_out_news_chunk(
            actor_id=actor_id, entry=entry, at_ms=at_ms, after_edge=after, last_edge=last
        ),
    )


def do_fan_out_news_chunk(
    *, actor_id: int, entry: news.NewsEntry, at_ms: int, after_edge: int, last_edge: int
) -> None:
    followers = followers_in(owner_id=actor_id, after_edge=after_edge, last_edge=last_edge)
    news.add(user_ids=followers, tab=news.FOLLOWING, entry=entry, at_ms=at_ms)
