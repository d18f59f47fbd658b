"""Fan-out writes (feeds/store.py) against the real feed shards."""

from collections.abc import Iterator

import pytest
from redis.exceptions import ResponseError

from feeds import store
from instagram import rediskeys
from instagram.redis_client import by_feed_shard, feed_redis, feed_shard_count

FIRST = 7_000_000_000  # ids no account of the suite has


def users_on_every_shard(per_shard: int) -> list[int]:
    ids = list(range(FIRST, FIRST + 4 * per_shard * feed_shard_count()))
    groups = by_feed_shard(ids)
    assert len(groups) == feed_shard_count()
    return [user for users in groups.values() for user in users[:per_shard]]


@pytest.fixture
def users() -> Iterator[list[int]]:
    users = users_on_every_shard(per_shard=3)
    yield users
    for user in users:
        feed_redis(user).delete(rediskeys.feed(user))


def test_a_media_reaches_every_built_feed_on_every_shard_and_only_those(users: list[int]) -> None:
    assert feed_shard_count() > 1, "the test stack has two feed shards: both write at once"
    built, missing = users[::2], users[1::2]
    for user in built:
        feed_redis(user).zadd(rediskeys.feed(user), {store.BUILT: 0})
    written = store.add_to_many_feeds(user_ids=users, media_id=42, batch=2)
    assert written == len(built)
    assert all(store.feed_ids(user) == [42] for user in built)
    assert all(not feed_redis(user).exists(rediskeys.feed(user)) for user in missing)


def test_a_shard_that_fails_raises_after_the_others_wrote(users: list[int]) -> None:
    for user in users:
        feed_redis(user).zadd(rediskeys.feed(user), {store.BUILT: 0})
    broken = users[-1]  # on the last shard: a key of the wrong type makes its script fail
    feed_redis(broken).delete(rediskeys.feed(broken))
    feed_redis(broken).set(rediskeys.feed(broken), "not a feed")
    with pytest.raises(ResponseError):
        store.add_to_many_feeds(user_ids=users, media_id=43)
    first_shard = next(iter(by_feed_shard(users).values()))
    assert broken not in first_shard
    assert all(store.feed_ids(user) == [43] for user in first_shard)
