"""Popular media, ranked by a time-decayed like count kept incrementally in Redis.

The score of a media at time `now` is the sum over its likes of
exp(-(now - liked_at) / TAU): a like just now counts 1, one TAU (6 h) ago
1/e, a day ago e^-4 (0.018). It is a rate of recent likes that needs no
window edges: a burst of likes lifts a media at once and fades smoothly.

Decayed scores all shrink together as time passes, so they are stored
against a fixed origin instead of being rewritten: each UTC day D (days
since the Unix epoch) has a sorted set `rediskeys.popular(D)`, and a like at
t adds exp((t - start(D)) / TAU) to its media there. The exponent stays
within [0, 4] (a day is 4 TAU), so no score overflows or loses precision.
At read time today's and yesterday's sets are combined with the weights
exp(-(now - start(D)) / TAU), which turns every stored like into its
exp(-(now - liked_at) / TAU). Likes older than yesterday's start are left
out; they are over a day old, and weigh under e^-4 each.

An unlike subtracts exactly what its like added (the caller passes the like's
time), then drops the members left at rounding residue. Each set expires
DAY_SET_TTL after its last write: it is read until the end of the next day.

Only media younger than MAX_AGE (from the time in their ID) are ranked, and
likes on older media are not recorded. Which media may be shown (a public
owner, not deleted) is the caller's decision; this module only ranks.
"""

import math
import time

import redis

from instagram import rediskeys
from instagram.redis_client import redis_primary
from sharding.ids import MAX_LOGICAL_SHARDS, decode_id

# The decay's time constant: a like's weight falls by e every TAU seconds, so
# the ranking follows the last few hours, not the whole day.
TAU = 6 * 3600.0
MAX_AGE = 3 * 86400.0  # seconds after posting during which a media can be popular
DAY = 86400
DAY_SET_TTL = 3 * DAY
# Every like adds at least exp(0) = 1 to its day's score, so a score at or
# below this is what rounding leaves once all of a media's likes were undone.
RESIDUE = 1e-6


def _day(moment: float) -> int:
    return math.floor(moment / DAY)


def _posted_at(media_id: int) -> float:
    """Return the Unix time (seconds) at which `media_id` was made, from its ID."""
    return decode_id(media_id, logical_shards=MAX_LOGICAL_SHARDS).timestamp_ms / 1000


def _recorded(media_id: int, liked_at: float) -> bool:
    """Return whether a like at `liked_at` counts: the media was younger than MAX_AGE then."""
    return liked_at - _posted_at(media_id) <= MAX_AGE


def _stored_like(liked_at: float) -> tuple[str, float]:
    """Return the day set a like at `liked_at` goes to, and what it adds there."""
    day = _day(liked_at)
    return rediskeys.popular(day), math.exp((liked_at - day * DAY) / TAU)


def record_like(*, media_id: int, liked_at: float, pipe: redis.client.Pipeline | None = None) -> None:
    """Add a like made at `liked_at` (Unix seconds) to `media_id`'s score.

    With `pipe`, queue the commands there (the caller executes them);
    otherwise run them now, in one transaction.
    """
    if not _recorded(media_id, liked_at):
        return
    key, amount = _stored_like(liked_at)
    client = redis_primary().pipeline(transaction=True) if pipe is None else pipe
    client.zincrby(key, amount, str(media_id))
    client.expire(key, DAY_SET_TTL)
    if pipe is None:
        client.execute()


def record_unlike(*, media_id: int, liked_at: float, pipe: redis.client.Pipeline | None = None) -> None:
    """Take back the like made at `liked_at` (the time `record_like` was given) from `media_id`'s score.

    The media leaves its day's set when no like is left there. Every real
    score is at least 1, so removing all members at or below RESIDUE drops
    exactly the rounding residue, in the same transaction, with no race
    against a concurrent like.
    """
    if not _recorded(media_id, liked_at):
        return
    key, amount = _stored_like(liked_at)
    client = redis_primary().pipeline(transaction=True) if pipe is None else pipe
    client.zincrby(key, -amount, str(media_id))
    client.zremrangebyscore(key, "-inf", RESIDUE)
    if pipe is None:
        client.execute()


def forget_media(*, media_id: int) -> None:
    """Remove `media_id` from every day set that can hold its likes (it was deleted).

    Those are the days from its posting (less a day, for clocks that
    disagree) to MAX_AGE after it, all read from its ID.
    """
    posted = _posted_at(media_id)
    pipe = redis_primary().pipeline(transaction=True)
    for day in range(_day(posted) - 1, _day(posted + MAX_AGE) + 1):
        pipe.zrem(rediskeys.popular(day), str(media_id))
    pipe.execute()


def _top_candidates(
    client: redis.Redis, day_sets: list[tuple[str, float]], *, depth: int
) -> tuple[dict[int, float], float | None]:
    """Read the best `depth` media of each (key, weight) day set, and complete their scores from the others.

    Return the candidates' combined scores, and the most a media not among
    them can have: the weighted sum of the last score read in each set that
    was not read whole (None when every set was).
    """
    pipe = client.pipeline(transaction=False)
    for key, _ in day_sets:
        pipe.zrevrange(key, 0, depth - 1, withscores=True)
    tops: list[list[tuple[bytes, float]]] = pipe.execute()
    stored = [{int(member): score for member, score in top} for top in tops]
    candidates = set().union(*stored)

    pipe = client.pipeline(transaction=False)
    missing = [sorted(candidates - scores.keys()) for scores in stored]
    for (key, _), ids in zip(day_sets, missing, strict=True):
        if ids:
            pipe.zmscore(key, [str(media_id) for media_id in ids])
    completions = iter(pipe.execute())
    for scores, ids in zip(stored, missing, strict=True):
        if ids:
            found: list[float | None] = next(completions)
            scores.update({m: score for m, score in zip(ids, found, strict=True) if score is not None})

    weights = [weight for _, weight in day_sets]
    combined = {
        media_id: sum(w * scores.get(media_id, 0.0) for w, scores in zip(weights, stored, strict=True))
        for media_id in candidates
    }
    if all(len(top) < depth for top in tops):
        return combined, None
    return combined, sum(w * top[-1][1] for w, top in zip(weights, tops, strict=True) if len(top) == depth)


def popular_ids(*, now: float | None = None, count: int = 50) -> list[tuple[int, float]]:
    """Return up to `count` (media id, score) pairs, best first (newest first on a tie), at `now`.

    Scores are decayed like counts at `now` (a like at `now` counts 1).
    Redis's ZUNION has no limit, and would send every media liked in two
    days (millions at 2011's 90 likes/s), so the top is found with Fagin's
    threshold algorithm instead: read the best `depth` of each day set,
    complete those candidates' scores from the other set (ZMSCORE), and stop
    once the count-th best is above what any unread media could reach;
    otherwise read four times deeper. Today's set usually dominates, so one
    round (two round trips) does.
    """
    if count < 1:
        raise ValueError("count must be positive")
    now = time.time() if now is None else now
    today = _day(now)
    day_sets = [(rediskeys.popular(day), math.exp(-(now - day * DAY) / TAU)) for day in (today, today - 1)]
    client = redis_primary()
    depth = 2 * count
    while True:
        scores, unread_bound = _top_candidates(client, day_sets, depth=depth)
        young = [
            (media_id, score) for media_id, score in scores.items() if now - _posted_at(media_id) <= MAX_AGE
        ]
        ranked = sorted(young, key=lambda pair: (-pair[1], -pair[0]))[:count]
        if unread_bound is None or (len(ranked) == count and ranked[-1][1] > unread_bound):
            return ranked
        depth *= 4
