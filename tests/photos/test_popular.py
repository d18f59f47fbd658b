"""Popular media in the test stack's Redis: decay, the day boundary, unlikes, deletes, the top read.

Each test lives on a random day of 2013-2020, passed as explicit times, so
its day sets are its own, whatever else runs; they are deleted afterwards.
Every score is checked against the closed form, sum(exp(-(now - t) / TAU)).
"""

import math
import random
from collections.abc import Iterable, Iterator

import pytest

from instagram import rediskeys
from instagram.redis_client import redis_primary
from photos import popular
from photos.popular import DAY, TAU
from sharding.ids import EPOCH_MS, MAX_LOGICAL_SHARDS, SEQUENCE_BITS, SHARD_BITS

HOUR = 3600
MINUTE = 60


def media_id_at(unix_seconds: float) -> int:
    """Make an ID in the sharding layout, as a shard would have at `unix_seconds`."""
    ms = int(unix_seconds * 1000) - EPOCH_MS
    shard, sequence = random.randrange(MAX_LOGICAL_SHARDS), random.randrange(1 << SEQUENCE_BITS)
    return (ms << (SHARD_BITS + SEQUENCE_BITS)) | (shard << SEQUENCE_BITS) | sequence


def closed_form(likes: Iterable[float], *, now: float) -> float:
    """Return the score of a media liked at `likes`: every like since yesterday's start, decayed to `now`."""
    since = (math.floor(now / DAY) - 1) * DAY
    return sum(math.exp(-(now - t) / TAU) for t in likes if t >= since)


def like(media_id: int, *times: float) -> None:
    for liked_at in times:
        popular.record_like(media_id=media_id, liked_at=liked_at)


@pytest.fixture
def today() -> Iterator[float]:
    """Return the start (Unix seconds) of a random day of 2013-2020; delete the sets near it afterwards."""
    day = random.randrange(15_706, 18_628)
    yield float(day * DAY)
    redis_primary().delete(*(rediskeys.popular(d) for d in range(day - 3, day + 5)))


def assert_scores(ranked: list[tuple[int, float]], expected: dict[int, float]) -> None:
    """Assert `ranked` is `expected` in descending score order.

    Two media whose scores differ only by float rounding (Redis sums the
    decayed likes in another order than the closed form) may come in either
    order, so the order is checked on the expected scores, within rounding.
    """
    assert {media_id for media_id, _ in ranked} == set(expected)
    in_order = [expected[media_id] for media_id, _ in ranked]
    assert in_order == pytest.approx(sorted(expected.values(), reverse=True), rel=1e-9)
    for media_id, score in ranked:
        assert score == pytest.approx(expected[media_id], rel=1e-9)


def test_ten_likes_now_rank_above_ten_likes_an_hour_ago(today: float) -> None:
    now = today + 14 * HOUR
    earlier, later = media_id_at(now - 3 * HOUR), media_id_at(now - 2 * HOUR)
    earlier_likes = [now - HOUR - i for i in range(10)]
    later_likes = [now - i for i in range(10)]
    like(earlier, *earlier_likes)
    like(later, *later_likes)

    ranked = popular.popular_ids(now=now)

    assert_scores(
        ranked, {earlier: closed_form(earlier_likes, now=now), later: closed_form(later_likes, now=now)}
    )
    assert ranked[0][0] == later
    assert ranked[1][1] == pytest.approx(ranked[0][1] / math.e ** (1 / 6), rel=1e-9)  # an hour is TAU / 6


def test_scores_combine_across_midnight(today: float) -> None:
    now = today + 30 * MINUTE
    before, after, both = (media_id_at(today - 2 * HOUR) for _ in range(3))
    likes = {
        before: [today - 10 * MINUTE] * 3,  # 23:50 yesterday
        after: [today + 10 * MINUTE] * 2,  # 00:10 today
        both: [today - 10 * MINUTE, today + 10 * MINUTE],
    }
    for media_id, times in likes.items():
        like(media_id, *times)

    assert_scores(popular.popular_ids(now=now), {m: closed_form(t, now=now) for m, t in likes.items()})
    # Each like went to its own day's set, stored against that day's start.
    client = redis_primary()
    assert client.zscore(rediskeys.popular(int(today // DAY) - 1), str(both)) == pytest.approx(
        math.exp((DAY - 10 * MINUTE) / TAU)
    )
    assert client.zscore(rediskeys.popular(int(today // DAY)), str(both)) == pytest.approx(
        math.exp(10 * MINUTE / TAU)
    )


def test_likes_before_yesterday_no_longer_count(today: float) -> None:
    now = today + 8 * HOUR
    media_id = media_id_at(today - 47 * HOUR)
    likes = [today - 25 * HOUR, today - 23 * HOUR, today + HOUR]  # the first is from the day before yesterday
    like(media_id, *likes)

    [(_, score)] = popular.popular_ids(now=now)
    assert score == pytest.approx(closed_form(likes[1:], now=now), rel=1e-9)


def test_an_unlike_undoes_its_like_exactly(today: float) -> None:
    now = today + 20 * HOUR
    media_id = media_id_at(today)
    first, second = today + 5 * HOUR + 0.123, today + 19 * HOUR + 0.456
    like(media_id, first, second)

    popular.record_unlike(media_id=media_id, liked_at=second)
    [(_, score)] = popular.popular_ids(now=now)
    assert score == pytest.approx(closed_form([first], now=now), rel=1e-9)

    pipe = redis_primary().pipeline(transaction=True)
    popular.record_unlike(media_id=media_id, liked_at=first, pipe=pipe)
    pipe.execute()
    assert popular.popular_ids(now=now) == []
    assert redis_primary().exists(rediskeys.popular(int(today // DAY))) == 0


def test_a_deleted_media_disappears_from_every_day(today: float) -> None:
    now = today + 2 * HOUR
    deleted, kept = media_id_at(today - 5 * HOUR), media_id_at(today - 5 * HOUR)
    like(deleted, today - HOUR, today + HOUR)
    like(kept, today + HOUR)

    popular.forget_media(media_id=deleted)

    assert [media_id for media_id, _ in popular.popular_ids(now=now)] == [kept]
    client = redis_primary()
    for day in (int(today // DAY) - 1, int(today // DAY)):
        assert client.zscore(rediskeys.popular(day), str(deleted)) is None


def test_media_older_than_max_age_are_not_ranked(today: float) -> None:
    now = today + 12 * HOUR
    old = media_id_at(now - popular.MAX_AGE - HOUR)
    ageing = media_id_at(now - popular.MAX_AGE + HOUR)
    like(old, now - MINUTE)  # not recorded: the media was too old when liked
    like(ageing, now - MINUTE)

    assert redis_primary().zscore(rediskeys.popular(int(now // DAY)), str(old)) is None
    assert [media_id for media_id, _ in popular.popular_ids(now=now)] == [ageing]
    assert popular.popular_ids(now=now + 2 * HOUR) == []


def test_the_top_read_finds_a_media_ranked_low_in_each_day_but_first_overall(today: float) -> None:
    # 20 media liked thrice just after midnight, 20 thrice just before it, and
    # one liked twice on each side: 21st in both day sets, first in the union.
    # The first read (10 of each set, for the top 5) cannot see it.
    now = today + HOUR
    after_midnight, before_midnight = today + 30 * MINUTE, today - MINUTE
    likes: dict[int, list[float]] = {}
    for _ in range(20):
        likes[media_id_at(today - HOUR)] = [after_midnight] * 3
        likes[media_id_at(today - HOUR)] = [before_midnight] * 3
    both = media_id_at(today - HOUR)
    likes[both] = [after_midnight, after_midnight, before_midnight, before_midnight]
    for media_id, times in likes.items():
        like(media_id, *times)

    ranked = popular.popular_ids(now=now, count=5)

    expected = {m: closed_form(t, now=now) for m, t in likes.items()}
    top5 = dict(sorted(expected.items(), key=lambda pair: (-pair[1], -pair[0]))[:5])
    assert ranked[0][0] == both
    assert_scores(ranked, top5)


def test_the_top_read_matches_a_full_ranking_of_many_media(today: float) -> None:
    now = today + 3 * HOUR
    likes: dict[int, list[float]] = {}
    for _ in range(400):
        media_id = media_id_at(today - 22 * HOUR)
        likes[media_id] = [random.uniform(today - 20 * HOUR, now) for _ in range(random.randint(1, 6))]
        like(media_id, *likes[media_id])

    expected = {m: closed_form(t, now=now) for m, t in likes.items()}
    for count in (1, 7, 50, 500):
        top = dict(sorted(expected.items(), key=lambda pair: (-pair[1], -pair[0]))[:count])
        assert_scores(popular.popular_ids(now=now, count=count), top)


def test_a_day_set_expires_days_after_its_last_like(today: float) -> None:
    media_id = media_id_at(today)
    like(media_id, today + HOUR)
    ttl = redis_primary().ttl(rediskeys.popular(int(today // DAY)))
    assert popular.DAY_SET_TTL - 60 < ttl <= popular.DAY_SET_TTL


def test_count_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        popular.popular_ids(count=0)
