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
from collections.abc import Iterable, Mapping
from typing import Any

import pylibmc
from django.core.cache import caches
from django.core.cache.backends.base import MEMCACHE_MAX_KEY_LENGTH, default_key_func
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

    def get_many_made(self, keys: Iterable[str]) -> dict[str, Any]:
        """get_many() for keys this code makes (`<namespace>:<id>`), not checked one by one.

        A page multi-gets a hundred-odd such keys; Django's get_many makes
        and checks each (prefix, version, pattern), which was a tenth of the
        popular page's CPU (docs/performance.md, change 20). A key that could
        be unsafe (longer than memcached takes) goes through get_many().
        """
        prefix = self._made_prefix()
        if prefix is None:
            return super().get_many(keys)
        wanted = {prefix + key: key for key in keys}
        if any(len(made) > MEMCACHE_MAX_KEY_LENGTH for made in wanted):
            return super().get_many(keys)
        return {wanted[made]: value for made, value in self._client().get_multi(list(wanted)).items()}

    def set_many_made(self, data: Mapping[str, Any], timeout: int) -> None:
        """set_many() for keys this code makes (get_many_made)."""
        prefix = self._made_prefix()
        if prefix is None or any(len(prefix) + len(key) > MEMCACHE_MAX_KEY_LENGTH for key in data):
            self.set_many(dict(data), timeout)
            return
        self._client().set_multi(
            {prefix + key: value for key, value in data.items()}, self.get_backend_timeout(timeout)
        )

    def _client(self) -> Any:
        # Django's pylibmc client (its `_cache` property, which the type stubs do not declare).
        return getattr(self, "_cache")  # noqa: B009

    def _made_prefix(self) -> str | None:
        # The prefix Django's default key function puts before every key; None under another one.
        if self.key_func is not default_key_func:
            return None
        return f"{self.key_prefix}:{self.version}:"


def get_many_made(keys: list[str]) -> dict[str, Any]:
    """The default cache's get_many() for keys made by this code (get_many_made above)."""
    backend = caches["default"]
    if isinstance(backend, ReconnectingPyLibMCCache):
        return backend.get_many_made(keys)
    return backend.get_many(keys)


def set_many_made(data: Mapping[str, Any], timeout: int) -> None:
    """The default cache's set_many() for keys made by this code (set_many_made above)."""
    backend = caches["default"]
    if isinstance(backend, ReconnectingPyLibMCCache):
        backend.set_many_made(data, timeout)
    else:
        backend.set_many(dict(data), timeout)
