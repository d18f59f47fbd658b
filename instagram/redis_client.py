"""Connections to the Redis primary (writes) and its replica (lag-tolerant reads).

Short timeouts: a Redis that accepts nothing (black-holed) must fail a
request in about a second or two, not hold it until gunicorn's timeout. A
refused connection fails at once, and instagram.errors renders it as a 503.
"""

from functools import cache

import redis
from django.conf import settings


@cache
def redis_primary() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=1)


@cache
def redis_replica() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_REPLICA_URL, socket_timeout=2, socket_connect_timeout=1)
