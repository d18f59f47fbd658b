"""memcached behind Django's cache framework, and Redis with its replica."""

import socket
import uuid

from django.conf import settings
from django.core.cache import cache

from instagram.redis_client import redis_primary, redis_replica
from tests.conftest import Stack, wait_for


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


def test_cache_write_is_readable_over_memcacheds_own_protocol(stack: Stack) -> None:
    assert str(settings.CACHES["default"]["BACKEND"]).endswith("PyLibMCCache")
    value = f"hello-{uuid.uuid4().hex}"
    cache.set("wire-check", value, 60)
    stored_key = cache.make_key("wire-check")
    assert memcached_get(stack.profile.memcached, stored_key) == value.encode()


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
