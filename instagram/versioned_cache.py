"""memcached copies of rows that are never served stale after a change.

Each object has a version number in memcached, and its copy is cached under
a key that contains it. A change bumps the version once its transaction
commits, so a reader that raced with the change (read the old row, stored
it late) can only fill a key nobody reads any more. A lost or evicted
version is replaced by a random one, which orphans every old copy.

Cache trouble (memcached down) is a miss: the database answers. A bump
that fails (a memcached hiccup: the server keeps the old version and the old
copy, which may say a now-private account is public) is handed to a job,
written to the outbox, that bumps again with retries until memcached takes
it: stale for seconds, not for the copy's day.

Used by the user profiles (users.cache) and the media cards (photos.cache).
"""

import logging
import secrets
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

import pylibmc
from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

T = TypeVar("T")


class VersionedCache(Generic[T]):
    """Objects of one kind, cached under `<namespace>:<id>:<version>`."""

    def __init__(self, namespace: str, *, kind: type[T], timeout: int = 24 * 3600) -> None:
        self.namespace = namespace
        self.kind = kind
        self.timeout = timeout

    def version_key(self, object_id: int) -> str:
        return version_key(self.namespace, object_id)

    def key(self, object_id: int, version: object) -> str:
        return f"{self.namespace}:{object_id}:{version}"

    def get_many(self, ids: Iterable[int], load: Callable[[list[int]], dict[int, T]]) -> dict[int, T]:
        """Return the objects with these ids: memcached first, `load(missing ids)` for the rest."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        found: dict[int, T] = {}
        versions: dict[int, object] = {}
        try:
            versions = self._versions(wanted)
            keys = {self.key(i, versions[i]): i for i in wanted}
            found = {keys[k]: v for k, v in cache.get_many(list(keys)).items() if isinstance(v, self.kind)}
        except pylibmc.Error as exc:  # memcached trouble is a miss, never an outage
            logger.warning("%s cache unavailable: %s", self.namespace, exc)
            versions = {}
        missing = [i for i in wanted if i not in found]
        if missing:
            loaded = load(missing)
            found.update(loaded)
            if versions and loaded:
                try:
                    cache.set_many({self.key(i, versions[i]): v for i, v in loaded.items()}, self.timeout)
                except pylibmc.Error as exc:
                    logger.warning("%s cache unavailable: %s", self.namespace, exc)
        return found

    def forget_on_commit(self, *ids: int, using: str) -> None:
        """Bump the objects' versions once the transaction on `using` commits (at once outside one)."""
        wanted = sorted(set(ids))
        transaction.on_commit(lambda: self.forget_now(wanted), using=using)

    def forget_now(self, ids: Iterable[int]) -> None:
        wanted = sorted(set(ids))
        try:
            bump_versions(namespace=self.namespace, ids=wanted)
        except pylibmc.Error as exc:
            from workers.payloads import CacheForget
            from workers.submit import submit_job_on_commit

            logger.error("could not invalidate cached %s %s (%s): a job retries", self.namespace, wanted, exc)
            submit_job_on_commit(CacheForget(namespace=self.namespace, ids=tuple(wanted)))

    def _versions(self, ids: list[int]) -> dict[int, object]:
        keys = {self.version_key(i): i for i in ids}
        found = cache.get_many(list(keys))
        versions = {keys[k]: v for k, v in found.items()}
        for object_id in ids:
            if object_id not in versions:
                fresh = _new_version()
                # add(): if another process set one meanwhile, theirs wins.
                if not cache.add(self.version_key(object_id), fresh, None):
                    fresh = cache.get(self.version_key(object_id), fresh)
                versions[object_id] = fresh
        return versions


def version_key(namespace: str, object_id: int) -> str:
    return f"{namespace}.v:{object_id}"


def bump_versions(*, namespace: str, ids: Iterable[int]) -> None:
    """Orphan every cached copy of these objects; raise pylibmc.Error when memcached cannot be told."""
    for object_id in ids:
        key = version_key(namespace, object_id)
        try:
            cache.incr(key)
        except ValueError:  # no version yet (or evicted): any new one orphans old copies
            cache.set(key, _new_version(), None)


def _new_version() -> int:
    return secrets.randbits(48)
