"""Connections to Redis, by role, sharded, found through Sentinel.

Two roles, each its own instances (settings):

- *feeds*: the feeds, the news lists and the photo -> user map, the data
  that grows with users and photos. Sharded over REDIS_FEED_URLS (each with
  its replica in REDIS_FEED_REPLICA_URLS) by user id, client-side as
  Instagram did in 2011: more memory is more instances. A user's logical
  shard (sharding.routing.user_shard, also written in each of their media
  ids) modulo the number of instances picks the instance: doubling the list
  sends half of instance i's logical shards to instance i + n, so each new
  instance can start as a replica of the one it splits (docs/deploy.md).
- *main* (REDIS_URL, REDIS_REPLICA_URL): everything else, small and global:
  sessions, rate limits, job retries, subscription queues, geo, popular,
  counters, push claims, the celebrities set.

With REDIS_SENTINELS set, each primary (and replica) is looked up by its
Sentinel name (`main`, `feed-0`, `feed-1` ...) on every new connection:
when Sentinel promotes a replica, the next connection reaches the new
primary without a restart, and a connection to a demoted primary is dropped
on its first READONLY answer and its command sent again to the new primary
(PrimaryConnection). The URL then only gives the database number and
password; the Sentinels' own password is REDIS_SENTINEL_PASSWORD. Without
sentinels, the URLs are the servers.

Short timeouts: a Redis that accepts nothing (black-holed) must fail a
request in about a second or two, not hold it until gunicorn's timeout. A
refused connection fails at once, and instagram.errors renders it as a 503.
"""

from collections import defaultdict
from collections.abc import Iterable
from functools import cache
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.connection import Connection
from redis.exceptions import ReadOnlyError
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelManagedConnection

from sharding.ids import MAX_LOGICAL_SHARDS, SEQUENCE_BITS

MAIN = "main"
TIMEOUTS: dict[str, float] = {"socket_timeout": 2, "socket_connect_timeout": 1}


def feeds_share_main() -> bool:
    """Whether the feeds live on the main instance: REDIS_FEED_URLS unset (one Redis, as on a small fleet)."""
    return list(settings.REDIS_FEED_URLS) == [settings.REDIS_URL]


def feed_service(index: int) -> str:
    """Return the Sentinel name of feed shard `index`: `main` when the feeds share the main instance.

    Sentinel watches the instances there are: with no feed instances of their
    own there is no `feed-0` to ask for, and every feed read would fail.
    """
    return MAIN if feeds_share_main() else f"feed-{index}"


@cache
def sentinel() -> Sentinel | None:
    """Return the Sentinel client of REDIS_SENTINELS, or None when Redis is reached by address."""
    if not settings.REDIS_SENTINELS:
        return None
    addresses = [(host, int(port)) for host, port in (a.rsplit(":", 1) for a in settings.REDIS_SENTINELS)]
    # One dead sentinel costs a lookup at most a second before the next is asked.
    timeouts = {"socket_timeout": 1, "socket_connect_timeout": 0.5}
    # The Sentinels' password (REDIS_SENTINEL_PASSWORD) is for them only; each
    # instance's comes with its URL (_connect).
    ask = {**timeouts, "password": settings.REDIS_SENTINEL_PASSWORD or None}
    return Sentinel(addresses, sentinel_kwargs=ask, **timeouts)  # type: ignore[no-untyped-call]


class DemotedPrimaryError(redis.ConnectionError):
    """A pooled connection still reached a primary that Sentinel has since made a replica."""


class PrimaryConnection(SentinelManagedConnection):
    """A connection to a Sentinel-named primary that tells a demoted primary apart.

    redis-py drops such a connection on its first READONLY answer and raises
    a plain ConnectionError, which a request would turn into a 503 although
    the new primary is one lookup away. Raising DemotedPrimaryError instead
    lets the client's Retry (one attempt, that error only) send the command
    again on a fresh connection, which asks Sentinel. Safe to repeat: a
    replica refused every write in it, so none was applied. A refused or
    timed-out connection is not retried (a write may have landed, and a dead
    Redis must fail fast).
    """

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return Connection.read_response(self, *args, **kwargs)
        except ReadOnlyError as error:
            if not self.connection_pool.is_master:
                raise
            self.disconnect()  # type: ignore[no-untyped-call]
            # redis-py reconnects a dropped connection to its last address, not through
            # Sentinel: point it at the primary Sentinel names now.
            self.host, self.port = self.connection_pool.get_master_address()
            raise DemotedPrimaryError("The previous primary is now a replica") from error


def _connect(url: str, service: str, *, replica: bool) -> redis.Redis:
    found = sentinel()
    if found is None:
        return redis.Redis.from_url(url, **TIMEOUTS)
    parts = urlsplit(url)
    options: dict[str, object] = {"db": int(parts.path.strip("/") or 0), **TIMEOUTS}
    if parts.password:
        options["password"] = unquote(parts.password)
    if replica:
        return found.slave_for(service, **options)  # type: ignore[no-untyped-call,no-any-return]
    return found.master_for(  # type: ignore[no-untyped-call,no-any-return]
        service,
        connection_class=PrimaryConnection,
        retry=Retry(NoBackoff(), 1, supported_errors=(DemotedPrimaryError,)),
        **options,
    )


@cache
def redis_primary() -> redis.Redis:
    """Return the main instance's primary (everything but feeds, news and the photo map)."""
    return _connect(settings.REDIS_URL, MAIN, replica=False)


@cache
def redis_replica() -> redis.Redis:
    """Return the main instance's replica (lag-tolerant reads, backups)."""
    return _connect(settings.REDIS_REPLICA_URL, MAIN, replica=True)


# ---------------------------------------------------------------- feed shards


def feed_shard_count() -> int:
    return len(settings.REDIS_FEED_URLS)


@cache
def feed_primary(index: int) -> redis.Redis:
    """Return feed shard `index`'s primary."""
    return _connect(settings.REDIS_FEED_URLS[index], feed_service(index), replica=False)


@cache
def feed_replica(index: int) -> redis.Redis:
    """Return feed shard `index`'s replica."""
    return _connect(settings.REDIS_FEED_REPLICA_URLS[index], feed_service(index), replica=True)


def feed_index_of_logical(logical_shard: int) -> int:
    """Return the feed shard that holds logical shard `logical_shard`.

    Modulo rather than ranges: consecutive user ids (and so new sign-ups)
    spread over every instance. Shard fields beyond LOGICAL_SHARDS (ids no
    shard here made, which the photo map's benchmark writes) wrap around.
    """
    return (logical_shard % settings.LOGICAL_SHARDS) % feed_shard_count()


def feed_index_of_user(user_id: int) -> int:
    # sharding.routing.user_shard, which imports this module.
    return feed_index_of_logical(user_id % settings.LOGICAL_SHARDS)


def feed_index_of_media(media_id: int) -> int:
    """Return the feed shard of the media's owner, read off the logical shard in its id."""
    return feed_index_of_logical((media_id >> SEQUENCE_BITS) & (MAX_LOGICAL_SHARDS - 1))


def feed_redis(user_id: int) -> redis.Redis:
    """Return the primary that holds `user_id`'s feed and news."""
    return feed_primary(feed_index_of_user(user_id))


def feed_redis_for_media(media_id: int) -> redis.Redis:
    """Return the primary whose photo map holds `media_id`'s owner."""
    return feed_primary(feed_index_of_media(media_id))


def by_feed_shard(user_ids: Iterable[int]) -> dict[int, list[int]]:
    """Group `user_ids` by feed shard index, each group in the given order.

    A Lua script or a MULTI touches keys of one instance only: callers run one
    per group.
    """
    # feed_index_of_user inlined, the settings read once: a fan-out chunk groups thousands of ids.
    logical, instances = settings.LOGICAL_SHARDS, feed_shard_count()
    groups: defaultdict[int, list[int]] = defaultdict(list)
    for user_id in user_ids:
        groups[user_id % logical % instances].append(user_id)
    return dict(groups)
