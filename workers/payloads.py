"""The payloads of the jobs the workers app serves itself (workers.handlers)."""

from dataclasses import dataclass

from workers import functions
from workers.jobs import JobPayload


@dataclass(frozen=True, kw_only=True)
class Ping(JobPayload):
    """A probe through gearmand to a worker and back, recorded under `token`.

    `fail_attempts` fails the first n attempts (the retry path, on a live
    system); `permanent` fails at once (the dead letters).
    """

    function = functions.PING

    token: str
    fail_attempts: int = 0
    permanent: bool = False


@dataclass(frozen=True, kw_only=True)
class CacheForget(JobPayload):
    """Bump the memcached versions of `ids` in `namespace` that a change could not bump at commit."""

    function = functions.CACHE_FORGET

    namespace: str
    ids: tuple[int, ...]
