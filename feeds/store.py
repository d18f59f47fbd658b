"""Feeds in Redis: one sorted set per user, newest media ids, capped.

Layout (instagram/rediskeys.py `feed`): every member has score 0 and is the
media id written as 20 zero-padded decimal digits, so the set's
lexicographic order is the ids' numeric order and ZREVRANGEBYLEX pages by
id exactly. Scores are doubles (53-bit mantissa) and our 64-bit ids are not
exact as scores; two ids of the same millisecond would tie or swap.

The member `00000000000000000000` (id 0, no media has it) is the feed's
*built* marker: a feed without it is missing (never built, expired, evicted,
Redis lost its data) and is rebuilt from PostgreSQL on its next read.
Fan-out only writes to built feeds, so a missing feed never comes back with
one photo in it looking complete. Trimming keeps rank 0, the marker.
"""

import zlib
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from functools import cache
from typing import NamedTuple

from django.conf import settings
from redis.commands.core import AsyncScript, Script

from instagram import rediskeys
from instagram.redis_client import by_feed_shard, feed_primary, feed_redis, feed_shard_count, redis_primary

WIDTH = 20
BUILT = "0" * WIDTH
LOWEST = "(" + BUILT  # exclusive: every real id sorts above the marker

# KEYS: feeds; ARGV: cap, members... Adds the members to each feed that is
# built, trims it to `cap` entries (plus the marker). Returns how many feeds
# it wrote.
_ADD = """
local cap = tonumber(ARGV[1])
local written = 0
for _, key in ipairs(KEYS) do
  if redis.call('ZSCORE', key, '00000000000000000000') then
    for i = 2, #ARGV do redis.call('ZADD', key, 0, ARGV[i]) end
    local extra = redis.call('ZCARD', key) - cap - 1
    if extra > 0 then redis.call('ZREMRANGEBYRANK', key, 1, extra) end
    written = written + 1
  end
end
return written
"""

_scripts: dict[str, Script | AsyncScript] = {}


def _add_script() -> Script:
    """Return the script, run on each feed shard through `client=` (it loads itself where missing)."""
    script = _scripts.get("add")
    if script is None:
        script = _scripts["add"] = feed_primary(0).register_script(_ADD)
    assert isinstance(script, Script)
    return script


def member(media_id: int) -> str:
    return f"{media_id:0{WIDTH}d}"


def add_to_feeds(*, user_ids: Sequence[int], media_ids: Sequence[int]) -> int:
    """Add `media_ids` to every built feed among `user_ids` (a script call a shard); return feeds written."""
    if not user_ids or not media_ids:
        return 0
    script = _add_script()
    written = 0
    for index, users in by_feed_shard(user_ids).items():
        keys = [rediskeys.feed(user_id) for user_id in users]
        written += int(
            script(keys=keys, args=[settings.FEED_SIZE, *map(member, media_ids)], client=feed_primary(index))
        )
    return written


def add_to_many_feeds(*, user_ids: Sequence[int], media_id: int, batch: int = 500) -> int:
    """Fan one media id out to many feeds: per feed shard, one pipelined script call per `batch` feeds.

    The feed shards write their parts at the same time (each instance runs
    its scripts while the others run theirs), so a chunk waits for the
    slowest instance, not the sum of them.
    """
    script = _add_script()
    args: list[int | str] = [settings.FEED_SIZE, member(media_id)]

    def write(index: int, users: list[int]) -> int:
        with feed_primary(index).pipeline(transaction=False) as pipe:
            for start in range(0, len(users), batch):
                keys = [rediskeys.feed(user_id) for user_id in users[start : start + batch]]
                script(keys=keys, args=args, client=pipe)
            return sum(int(result) for result in pipe.execute())

    groups = by_feed_shard(user_ids)
    if len(groups) <= 1:
        return sum(write(index, users) for index, users in groups.items())
    futures = [_shard_pool().submit(write, index, users) for index, users in groups.items()]
    wait(futures)
    return sum(future.result() for future in futures)  # the first failure raises, once all are done


@cache
def _shard_pool() -> ThreadPoolExecutor:
    # Made on first use, in the process that uses it (never inherited across a fork).
    return ThreadPoolExecutor(max_workers=feed_shard_count(), thread_name_prefix="feed-shard")


def remove_from_feeds(*, user_ids: Sequence[int], media_ids: Sequence[int], batch: int = 500) -> None:
    """Remove `media_ids` from each of `user_ids`' feeds (pipelined; missing feeds are no-ops)."""
    if not media_ids:
        return
    members = [member(media_id) for media_id in media_ids]
    for index, users in by_feed_shard(user_ids).items():
        with feed_primary(index).pipeline(transaction=False) as pipe:
            for start in range(0, len(users), batch):
                for user_id in users[start : start + batch]:
                    pipe.zrem(rediskeys.feed(user_id), *members)
                pipe.execute()


def feed_ids(user_id: int) -> list[int]:
    """Every media id in the feed, newest first (for removals by owner)."""
    raw = feed_redis(user_id).zrevrangebylex(rediskeys.feed(user_id), "+", LOWEST)
    return [int(m) for m in raw]


def page(*, user_id: int, max_id: int | None, min_id: int | None, count: int) -> tuple[list[int], int] | None:
    """Return (ids newest first below max_id / above min_id, the feed's size), or None if not built.

    The read also renews the feed's expiry: feeds of users who stop reading
    expire after FEED_TTL_SECONDS and are rebuilt when they come back.
    """
    return page_and_followed(user_id=user_id, max_id=max_id, min_id=min_id, count=count).page


class FeedRead(NamedTuple):
    """What one feed read finds (page_and_followed)."""

    page: tuple[list[int], int] | None  # page()'s answer
    followed: bytes | None  # what remember_followed() kept (followed_among() reads it)
    rebuilding: bool  # a rebuild began and has not stored its entries: the page may be missing them


def page_and_followed(*, user_id: int, max_id: int | None, min_id: int | None, count: int) -> FeedRead:
    """page(), and in the same round trip what remember_followed() kept of the user's celebrities and
    whether a rebuild of the feed is under way (mark_built to store)."""
    key = rediskeys.feed(user_id)
    high = "(" + member(max_id) if max_id is not None else "+"
    low = "(" + member(min_id) if min_id is not None and min_id > 0 else LOWEST
    with feed_redis(user_id).pipeline(transaction=False) as pipe:
        pipe.zscore(key, BUILT)
        pipe.zrevrangebylex(key, high, low, start=0, num=count)
        pipe.zcard(key)
        pipe.expire(key, settings.FEED_TTL_SECONDS)
        pipe.get(rediskeys.followed_celebrities(user_id))
        pipe.exists(rediskeys.feed_rebuilding(user_id))
        built, raw, size, _, followed, rebuilding = pipe.execute()
    if built is None:
        return FeedRead(None, followed, bool(rebuilding))
    return FeedRead(([int(m) for m in raw], int(size) - 1), followed, bool(rebuilding))


def store(*, user_id: int, media_ids: Iterable[int]) -> None:
    """Mark the feed built and merge `media_ids` into it, trimmed, with a fresh expiry; the rebuild
    that mark_built() began is over.

    Merges rather than replaces, so entries fanned out while the rebuild was
    reading PostgreSQL survive (see feeds.actions.do_rebuild_feed).
    """
    key = rediskeys.feed(user_id)
    members = {member(media_id): 0 for media_id in media_ids}
    with feed_redis(user_id).pipeline(transaction=True) as pipe:
        pipe.zadd(key, {BUILT: 0, **members})
        pipe.zremrangebyrank(key, 1, -(settings.FEED_SIZE + 2))
        pipe.expire(key, settings.FEED_TTL_SECONDS)
        pipe.delete(rediskeys.feed_rebuilding(user_id))
        pipe.execute()


def mark_built(*, user_id: int) -> None:
    """Make the feed exist (empty) so fan-outs land in it while it is being rebuilt, and flag the
    rebuild until store() ends it.

    The flag tells a read that races the rebuild (the same user on two
    devices, a client's retry) that the feed is not whole yet: it rebuilds
    too rather than answer an empty page. A rebuild that failed half-way
    leaves the flag, so the next read rebuilds again; it lives as long as
    the feed.
    """
    key = rediskeys.feed(user_id)
    with feed_redis(user_id).pipeline(transaction=True) as pipe:
        pipe.zadd(key, {BUILT: 0})
        pipe.expire(key, settings.FEED_TTL_SECONDS)
        pipe.set(rediskeys.feed_rebuilding(user_id), 1, ex=settings.FEED_TTL_SECONDS)
        pipe.execute()


def drop(*, user_id: int) -> None:
    feed_redis(user_id).delete(rediskeys.feed(user_id), rediskeys.feed_rebuilding(user_id))


# ---------------------------------------------------------------- celebrities
# One small global set: on the main instance, not a feed shard.


def celebrities() -> set[int]:
    """Accounts that are not fanned out: their media are merged into feeds at read time."""
    return {int(raw) for raw in redis_primary().smembers(rediskeys.feed_celebrities())}


# Which celebrities a reader follows, kept on the reader's feed shard and read with the feed page:
# otherwise every feed read asks the reader's PostgreSQL shard (docs/performance.md, change 28).
# Kept against the celebrity set it was read for (a digest of it): a new or removed celebrity
# makes every copy disagree, and the next read asks PostgreSQL again. A change of the reader's
# follows deletes it (forget_followed), after commit and again in the follow's job.
FOLLOWED_TTL_SECONDS = 3600


def _digest(celebrities: set[int]) -> str:
    return format(zlib.crc32(",".join(map(str, sorted(celebrities))).encode()), "08x")


def followed_among(kept: bytes | str | None, celebrities: set[int]) -> list[int] | None:
    """The celebrities the reader follows, from what page_and_followed() read; None if it is not current."""
    if not kept:
        return None
    digest, _, ids = (kept.decode() if isinstance(kept, bytes) else kept).partition(":")
    if digest != _digest(celebrities):
        return None
    return [int(i) for i in ids.split(",") if i]


def remember_followed(*, user_id: int, celebrities: set[int], followed: Iterable[int]) -> None:
    value = f"{_digest(celebrities)}:{','.join(map(str, sorted(followed)))}"
    feed_redis(user_id).set(rediskeys.followed_celebrities(user_id), value, ex=FOLLOWED_TTL_SECONDS)


def forget_followed(*user_ids: int) -> None:
    """The users' follows changed: their next feed read asks PostgreSQL which celebrities they follow."""
    for index, users in by_feed_shard(user_ids).items():
        feed_primary(index).delete(*(rediskeys.followed_celebrities(u) for u in users))


def mark_celebrity(user_id: int) -> None:
    redis_primary().sadd(rediskeys.feed_celebrities(), user_id)


def replace_celebrities(user_ids: Iterable[int]) -> None:
    key = rediskeys.feed_celebrities()
    ids = list(user_ids)
    with redis_primary().pipeline(transaction=True) as pipe:
        pipe.delete(key)
        if ids:
            pipe.sadd(key, *ids)
        pipe.execute()
