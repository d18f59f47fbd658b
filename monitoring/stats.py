"""App-level counters and the fan-out bookkeeping, kept in Redis for /metrics and Munin.

Counters are monotonic fields of one hash (rediskeys.stats()): each event
adds 1 once its transaction has committed, in one round trip, so Munin
graphs them as DERIVE (a rate) and Prometheus as counters. Counting never
fails the request: when Redis does not answer, the count is lost and a
warning logged.

Fan-out lag has two figures (docs/monitoring.md):

- the pending age: seconds since the commit of the oldest post whose fan-out
  has not finished. Each post enters a sorted set at its commit and leaves
  it when its last fan-out chunk is written, so the age grows while workers
  fall behind or stall, before anything finishes late;
- the completion lag: for each post, seconds from its commit to the end of
  its fan-out, recorded once by the worker that finishes it (a sum and a
  count, so a rate of each gives the mean; and the last value).
"""

import logging
import time
from dataclasses import dataclass
from functools import partial

from django.db import transaction
from redis.exceptions import RedisError

from instagram import rediskeys
from instagram.redis_client import redis_primary

logger = logging.getLogger(__name__)

# Fields of the stats hash.
SIGNUPS = "signups"
PHOTOS = "photos"
LIKES = "likes"
FANOUTS_FINISHED = "fanouts_finished"
FANOUT_LAG_SUM = "fanout_lag_seconds_sum"
FANOUT_LAG_LAST = "fanout_lag_seconds_last"

# A post whose fan-out has not finished after this long (its job parked and
# never replayed, say) leaves the pending set; it has alerted all along.
PENDING_MAX_AGE = 86400


def count_on_commit(field: str, *, using: str) -> None:
    """Add 1 to counter `field` once the transaction on `using` commits (at once outside one)."""
    transaction.on_commit(partial(_count, field), using=using)


def _count(field: str) -> None:
    try:
        redis_primary().hincrby(rediskeys.stats(), field, 1)
    except RedisError as exc:
        logger.warning("stats: could not count %s: %s", field, exc)


def count_post_on_commit(*, media_id: int) -> None:
    """Count a new photo and start its fan-out clock, once the main database's transaction commits."""
    transaction.on_commit(partial(_post_committed, media_id), using="default")


def _post_committed(media_id: int) -> None:
    try:
        with redis_primary().pipeline(transaction=False) as pipe:
            pipe.hincrby(rediskeys.stats(), PHOTOS, 1)
            pipe.zadd(rediskeys.fanout_pending(), {str(media_id): time.time()}, nx=True)
            pipe.execute()
    except RedisError as exc:
        logger.warning("stats: could not count media %s: %s", media_id, exc)


def fanout_finished(*, media_id: int) -> None:
    """Stop `media_id`'s fan-out clock and record its lag; only the first report of a post counts."""
    client = redis_primary()
    try:
        with client.pipeline(transaction=False) as pipe:
            pipe.zscore(rediskeys.fanout_pending(), str(media_id))
            pipe.zrem(rediskeys.fanout_pending(), str(media_id))
            committed, removed = pipe.execute()
        if not removed or committed is None:
            return  # already finished, or never counted (Redis was down at the commit)
        lag = max(0.0, time.time() - float(committed))
        with client.pipeline(transaction=False) as pipe:
            pipe.hincrby(rediskeys.stats(), FANOUTS_FINISHED, 1)
            pipe.hincrbyfloat(rediskeys.stats(), FANOUT_LAG_SUM, lag)
            pipe.hset(rediskeys.stats(), FANOUT_LAG_LAST, f"{lag:.3f}")
            pipe.execute()
    except RedisError as exc:
        logger.warning("stats: could not record the end of media %s's fan-out: %s", media_id, exc)


@dataclass(frozen=True)
class Stats:
    """The counters and the fan-out figures at one moment."""

    counters: dict[str, float]
    fanout_pending: int
    fanout_pending_age: float  # seconds; 0 when nothing is pending


def read_stats(*, now: float | None = None) -> Stats:
    """Read every counter and the pending fan-outs in one round trip (dropping day-old pending posts)."""
    now = time.time() if now is None else now
    pending = rediskeys.fanout_pending()
    with redis_primary().pipeline(transaction=False) as pipe:
        pipe.hgetall(rediskeys.stats())
        pipe.zremrangebyscore(pending, "-inf", now - PENDING_MAX_AGE)
        pipe.zcard(pending)
        pipe.zrange(pending, 0, 0, withscores=True)
        raw, dropped, count, oldest = pipe.execute()
    if dropped:
        logger.warning(
            "stats: %d posts were not fanned out within a day; no longer counted as pending", dropped
        )
    counters = {key.decode(): float(value) for key, value in raw.items()}
    age = max(0.0, now - float(oldest[0][1])) if oldest else 0.0
    return Stats(counters=counters, fanout_pending=int(count), fanout_pending_age=age)
