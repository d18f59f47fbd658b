"""memcached behind Django's cache framework, and Redis: its replica, its feed shards."""

import socket
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.base import InvalidCacheKey

from feeds import store
from instagram import rediskeys
from instagram.health import check_redis_replica
from instagram.memcached import get_many_made, set_many_made
from instagram.redis_client import (
    feed_index_of_user,
    feed_primary,
    feed_replica,
    feed_service,
    redis_primary,
    redis_replica,
    sentinel,
)
from photos import photomap
from tests.conftest import Stack, wait_for
from tests.photos.images import jpeg
from tests.v1 import Account


def memcached_get(port: int, key: str) -> bytes | None:
    """Fetch `key` with memcached's own text protocol, bypassing every client library."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(f"get {key}\r\n".encode())
        data = b""
        while not data.endswith(b"END\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    if data == b"END\r\n":
        return None
    header, _, rest = data.partition(b"\r\n")
    length = int(header.split()[3])
    return rest[:length]


def test_cache_write_is_readable_over_memcacheds_own_protocol(memcached: Stack) -> None:
    assert str(settings.CACHES["default"]["BACKEND"]).endswith("PyLibMCCache")
    value = f"hello-{uuid.uuid4().hex}"
    cache.set("wire-check", value, 60)
    stored_key = cache.make_key("wire-check")
    assert memcached_get(memcached.profile.memcached, stored_key) == value.encode()


def test_keys_made_by_the_app_are_read_and_written_unchecked_as_djangos_own(memcached: Stack) -> None:
    """get_many_made/set_many_made skip Django's key-by-key check, not its key layout: what one
    writes the other reads, and memcached holds it under Django's prefixed key."""
    tag = uuid.uuid4().hex[:12]
    cache.set(f"made:{tag}:1", "by django", 60)
    set_many_made({f"made:{tag}:2": "made", f"made:{tag}:3": ("v", 3)}, 60)
    found = get_many_made([f"made:{tag}:1", f"made:{tag}:2", f"made:{tag}:3", f"made:{tag}:4"])
    assert found == {f"made:{tag}:1": "by django", f"made:{tag}:2": "made", f"made:{tag}:3": ("v", 3)}
    assert cache.get(f"made:{tag}:3") == ("v", 3)
    assert memcached_get(memcached.profile.memcached, cache.make_key(f"made:{tag}:2")) is not None
    # A key memcached cannot carry still gets Django's error naming it, not a silent miss.
    with pytest.raises(InvalidCacheKey):
        get_many_made(["x" * 300])


def test_redis_write_appears_on_the_replica(stack: Stack) -> None:
    key = f"test:replication:{uuid.uuid4().hex}"
    redis_primary().set(key, "42", ex=60)
    assert wait_for(lambda: redis_replica().get(key), timeout=10) == b"42"
    info = redis_replica().info("replication")
    assert info["role"] == "slave"
    assert info["master_port"] == stack.profile.redis_primary


def test_redis_replica_persists_to_disk(stack: Stack) -> None:
    config = redis_replica().config_get("appendonly")
    assert config == {"appendonly": "yes"}
    aof_dir = stack.profile.var / "data" / "redis-replica" / "appendonlydir"
    assert any(aof_dir.iterdir())


def test_feeds_and_the_photo_map_live_on_their_users_feed_shard(stack: Stack, signup: Any) -> None:
    """Two users on different feed shards: each one's feed and photo map pair are on its own instance only."""
    users: dict[int, Account] = {}
    while len(users) < 2:
        account = signup("shardling")
        users.setdefault(feed_index_of_user(int(account.id)), account)
    assert set(users) == {0, 1}
    media = {
        index: int(account.post_photo(jpeg(160, 160))["id"].split("_")[0]) for index, account in users.items()
    }
    for index, account in users.items():
        account.get("users/self/feed")  # builds the feed
        mine, other = feed_primary(index), feed_primary(1 - index)
        key = rediskeys.feed(int(account.id))
        assert mine.exists(key) == 1
        assert other.exists(key) == 0
        assert redis_primary().exists(key) == 0  # not the main instance either
        # The media's id names its owner's logical shard: its pair is found on the owner's feed shard.
        assert photomap.owner_of(media[index], client=mine) == int(account.id)
        assert photomap.owner_of(media[index], client=other) is None
    assert {feed_primary(i).info("server")["tcp_port"] for i in (0, 1)} == set(stack.profile.redis_feeds)


def test_one_fan_out_call_writes_the_feeds_of_every_shard(stack: Stack) -> None:
    """add_to_feeds runs its Lua script once per instance, with only that instance's keys."""
    users = [10**12 + n for n in range(8)]  # ids no account has: feeds of nobody, on both shards
    assert {feed_index_of_user(u) for u in users} == {0, 1}
    try:
        for user_id in users:
            store.mark_built(user_id=user_id)
        assert store.add_to_feeds(user_ids=users, media_ids=[4242]) == len(users)
        for user_id in users:
            assert store.feed_ids(user_id) == [4242]
    finally:
        for user_id in users:
            store.drop(user_id=user_id)


def test_a_pooled_connection_to_a_demoted_primary_is_dropped_and_the_command_sent_to_the_primary(
    stack: Stack,
) -> None:
    """A connection made before its server was demoted by hand (REPLICAOF, which, unlike
    Sentinel, does not kill the clients) answers READONLY: the client drops it, asks Sentinel
    again and sends the write to the primary, instead of failing the request with a 503."""
    client = feed_primary(1)
    key = f"test:demoted:{uuid.uuid4().hex}"
    # The feed shard's replica stands for the demoted primary: the pool's last Sentinel lookup
    # found it the primary, and one pooled connection still reaches it.
    demoted = ("127.0.0.1", stack.profile.redis_feed_replicas[1])
    pool: Any = client.connection_pool
    stale = pool.get_connection()
    stale.disconnect()
    stale.connect_to(demoted)
    pool.proxy.master_address = demoted
    pool.release(stale)
    assert client.set(key, "written")
    try:
        assert client.info("server")["tcp_port"] == stack.profile.redis_feeds[1]
        assert client.get(key) == b"written"
    finally:
        client.delete(key)


def test_a_replica_connection_left_on_a_promoted_server_does_not_make_the_replica_down(stack: Stack) -> None:
    """Sentinel does not drop the clients of the replica it promotes: a pooled replica connection
    can still reach that server, now a primary. /health's check reconnects (through Sentinel)
    before it calls the replica down."""
    client = feed_replica(1)
    promoted = ("127.0.0.1", stack.profile.redis_feeds[1])  # the primary stands for the promoted replica
    pool: Any = client.connection_pool
    stale = pool.get_connection()
    stale.disconnect()
    stale.connect_to(promoted)
    pool.release(stale)
    assert check_redis_replica(client)["primary_port"] == stack.profile.redis_feeds[1]
    assert client.info("server")["tcp_port"] == stack.profile.redis_feed_replicas[1]


def test_feeds_without_their_own_instances_are_the_main_instance_found_through_sentinel(
    stack: Stack, settings: Any
) -> None:
    """REDIS_FEED_URLS unset (a fleet with one Redis and its replica): the feeds ask Sentinel for
    `main`, the one name it watches there, not for a `feed-0` it does not know."""
    assert feed_service(0) == "feed-0"  # the test stack runs feed shards of their own
    settings.REDIS_FEED_URLS = [settings.REDIS_URL]
    settings.REDIS_FEED_REPLICA_URLS = [settings.REDIS_REPLICA_URL]
    feed_primary.cache_clear()
    try:
        assert feed_service(0) == "main"
        assert feed_primary(0).info("server")["tcp_port"] == stack.profile.redis_primary
    finally:
        feed_primary.cache_clear()


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_the_app_gives_the_sentinels_their_password_and_they_refuse_a_client_without_it(
    stack: Stack, settings: Any, tmp_path: Path
) -> None:
    """REDIS_SENTINEL_PASSWORD: a Sentinel with requirepass (as fab setup runs them) names feed-0's
    primary to the app, which gives the password; a client without it is refused, and so is the app
    when the setting is empty."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\nrequirepass sentinel-secret\n"
        f"sentinel monitor feed-0 127.0.0.1 {stack.profile.redis_feeds[0]} 1\n"
    )
    process = subprocess.Popen(
        ["/usr/bin/redis-sentinel", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    outsider = redis.Redis(port=port, socket_timeout=2)
    try:
        wait_for(lambda: listening(port) or None, timeout=10)
        with pytest.raises(redis.AuthenticationError):
            outsider.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "feed-0")  # type: ignore[no-untyped-call]
        settings.REDIS_SENTINELS = [f"127.0.0.1:{port}"]
        settings.REDIS_SENTINEL_PASSWORD = "sentinel-secret"
        sentinel.cache_clear()
        feed_primary.cache_clear()
        assert feed_primary(0).info("server")["tcp_port"] == stack.profile.redis_feeds[0]
        settings.REDIS_SENTINEL_PASSWORD = ""
        sentinel.cache_clear()
        feed_primary.cache_clear()
        with pytest.raises(redis.ConnectionError):  # no Sentinel answers it: MasterNotFoundError
            feed_primary(0).ping()
    finally:
        outsider.close()
        process.terminate()
        process.wait(timeout=10)
        sentinel.cache_clear()
        feed_primary.cache_clear()
