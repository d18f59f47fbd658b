"""Connections to the Redis primary (writes) and its replica (lag-tolerant reads)."""

from functools import cache

import redis
from django.conf import settings


@cache
def redis_primary() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


@cache
def redis_replica() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_REPLICA_URL, socket_timeout=2, socket_connect_timeout=2)
