"""Django's pylibmc cache backend, whose client survives a memcached restart.

Each gunicorn thread keeps its cache backend, and so its libmemcached
client and TCP connection, from one request to the next (the request
middleware's per-thread base context, instagram.middleware.request_context).
A kept connection can be one memcached closed by restarting: libmemcached
finds it broken at the next call (CONNECTION FAILURE, at once) and disables
the server for RETRY_TIMEOUT. That would turn every thread's next calls into
misses for a second or two after memcached is back. So a call that finds its
connection broken is made once more on a fresh client (a new connection).

Nothing else is retried: a server that does not answer (black-holed) times
out once, and is then skipped fast until libmemcached's own retry, as before.
A memcached that refuses connections fails the second try at once too.
"""

import re
from typing import Any

import pylibmc
from django.core.cache.backends.base import MEMCACHE_MAX_KEY_LENGTH
from django.core.cache.backends.memcached import PyLibMCCache

# What memcached's text protocol cannot carry in a key (Django's own check).
UNSAFE_KEY = re.compile(r"[\x00-\x20\x7f]")


class ReconnectingClient:
    """A pylibmc client replaced by a fresh one when a call finds its connection broken."""

    def __init__(self, servers: list[str], **options: Any) -> None:
        self._servers = servers
        self._options = options
        self._client = pylibmc.Client(servers, **options)

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return getattr(self._client, name)(*args, **kwargs)
            except pylibmc.ConnectionError:
                self._client = pylibmc.Client(self._servers, **self._options)
                return getattr(self._client, name)(*args, **kwargs)

        return call


class ReconnectingPyLibMCCache(PyLibMCCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReconnectingClient

    def validate_key(self, key: str) -> None:
        """Django's check, with its generator of warnings run only for a key that fails it.

        A feed page validates about 80 keys; Django's generator and lazily
        compiled pattern were 7% of its CPU (docs/performance.md, change 10).
        """
        if len(key) > MEMCACHE_MAX_KEY_LENGTH or UNSAFE_KEY.search(key):
            super().validate_key(key)  # raises InvalidCacheKey, naming the problem
