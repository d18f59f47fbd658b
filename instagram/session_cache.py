"""Django's Redis cache backend (web sessions) on the main instance's own client.

Django's backend builds its connection pool from a URL, which cannot follow a
Sentinel promotion; this one hands it instagram.redis_client's client for the
main role, which can (and is the same server the URL names without Sentinel).
"""

from typing import Any

import redis
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

from instagram.redis_client import redis_primary


class MainRedisCacheClient(RedisCacheClient):
    def get_client(self, key: Any = None, *, write: bool = False) -> redis.Redis:
        return redis_primary()


class MainRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = MainRedisCacheClient
