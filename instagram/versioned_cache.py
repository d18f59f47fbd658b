"""memcached copies of rows that are never served stale after a change.

Each object has a version number in memcached, and its copy is cached with
the version it was read under: `<namespace>:<id>` holds (version, object).
A reader asks for the version and the copy in the same multi-get and takes
the copy only when the two agree. A change bumps the version once its
transaction commits, so a copy read before the change, even one a slow
reader stores after it, no longer agrees and is read again from the
database. A lost or evicted version is replaced by a random one, which
orphans every old copy.

Pages read several kinds together (media cards and their owners' profiles):
read_together() takes them all in one round trip.

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
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pylibmc
from django.core.cache import cache
from django.db import transaction

from instagram.memcached import get_many_made, set_many_made
from instagram.request_memo import memoized

logger = logging.getLogger(__name__)

T = TypeVar("T")


class VersionedCache(Generic[T]):
    """Objects of one kind, each cached as (version, object) under `<namespace>:<id>`."""

    def __init__(self, namespace: str, *, kind: type[T], timeout: int = 24 * 3600) -> None:
        self.namespace = namespace
        self.kind = kind
        self.timeout = timeout

    def version_key(self, object_id: int) -> str:
        return version_key(self.namespace, object_id)

    def key(self, object_id: int) -> str:
        return f"{self.namespace}:{object_id}"

    def get_many(self, ids: Iterable[int], load: Callable[[list[int]], dict[int, T]]) -> dict[int, T]:
        """Return the objects with these ids: memcached first, `load(missing ids)` for the rest."""
        return read_together(Read(self, ids, load))[0]

    def forget_on_commit(self, *ids: int, using: str) -> None:
        """Bump the objects' versions once the transaction on `using` commits (at once outside one)."""
        wanted = sorted(set(ids))
        transaction.on_commit(lambda: self.forget_now(wanted), using=using)

    def forget_now(self, ids: Iterable[int]) -> None:
        wanted = sorted(set(ids))
        seen = _seen_this_request()
        for object_id in wanted:
            seen.pop((self.namespace, object_id), None)
        try:
            bump_versions(namespace=self.namespace, ids=wanted)
        except pylibmc.Error as exc:
            from workers.payloads import CacheForget
            from workers.submit import submit_job_on_commit

            logger.error("could not invalidate cached %s %s (%s): a job retries", self.namespace, wanted, exc)
            submit_job_on_commit(CacheForget(namespace=self.namespace, ids=tuple(wanted)))

    def _versions(self, ids: list[int]) -> dict[int, object]:
        return _with_versions(self, ids, get_many_made([self.version_key(i) for i in ids]))


@dataclass(frozen=True)
class Read(Generic[T]):
    """One kind's part of a read_together(): its cache, the ids wanted, and how to load the missing ones."""

    cache: VersionedCache[T]
    ids: Iterable[int]
    load: Callable[[list[int]], dict[int, T]] | None  # None: memcached only, what it lacks is left out


def read_together(*reads: Read[Any]) -> list[dict[int, Any]]:
    """Return each read's objects by id, in the order of `reads`, from one memcached round trip.

    The versions and the copies of every read come in one multi-get; what is
    missing or out of date is loaded (one `load` call per read) and stored
    with the version read before the load, in one multi-set.
    """
    seen = _seen_this_request()
    results: list[dict[int, Any]] = []
    wanted: list[list[int]] = []
    for read in reads:
        ids = list(dict.fromkeys(read.ids))
        known = {i: seen[read.cache.namespace, i] for i in ids if (read.cache.namespace, i) in seen}
        results.append(known)
        wanted.append([i for i in ids if i not in known])
    keys = [key for read, ids in zip(reads, wanted, strict=True) for key in _keys(read.cache, ids)]
    fills: dict[str, tuple[object, Any]] = {}
    try:
        got = get_many_made(keys) if keys else {}
    except pylibmc.Error as exc:  # memcached trouble is a miss, never an outage
        logger.warning("cache unavailable: %s", exc)
        got = None
    for read, ids, found in zip(reads, wanted, results, strict=True):
        versions: dict[int, object] = {}
        if got is not None and ids:
            try:
                versions = _with_versions(read.cache, ids, got, create=read.load is not None)
            except pylibmc.Error as exc:
                logger.warning("%s cache unavailable: %s", read.cache.namespace, exc)
            for object_id, version in versions.items():
                copy = got.get(read.cache.key(object_id))
                # A copy stored under another version is out of date (or from older code).
                if (
                    type(copy) is tuple
                    and len(copy) == 2
                    and copy[0] == version
                    and isinstance(copy[1], read.cache.kind)
                ):
                    found[object_id] = copy[1]
        missing = [i for i in ids if i not in found]
        if missing and read.load is not None:
            loaded = read.load(missing)
            found.update(loaded)
            fills.update({read.cache.key(i): (versions[i], v) for i, v in loaded.items() if i in versions})
        seen.update({(read.cache.namespace, i): obj for i, obj in found.items()})
    if fills:
        # One timeout for the lot: the kinds read together keep their copies a day alike.
        timeout = max(read.cache.timeout for read in reads)
        try:
            set_many_made(fills, timeout)
        except pylibmc.Error as exc:
            logger.warning("cache unavailable: %s", exc)
    return results


def _seen_this_request() -> dict[tuple[str, int], Any]:
    """The objects this request already read, by (namespace, id): a page's second read of one is free.

    A media page reads its card and owner to check access, then again to
    show them; a feed reads the owners with the cards, then every user the
    cards name. Kept in the request memo (instagram.request_memo), which
    a shard write empties, and dropped here by forget_now, so a request that
    changes an object reads it afresh. Outside a request: an empty dict
    nobody keeps.
    """
    return memoized(("versioned_cache.seen",), dict)


def _keys(versioned: VersionedCache[Any], ids: list[int]) -> list[str]:
    return [key for i in ids for key in (versioned.version_key(i), versioned.key(i))]


def _with_versions(
    versioned: VersionedCache[Any], ids: list[int], got: dict[str, Any], *, create: bool = True
) -> dict[int, object]:
    """The versions of `ids` among `got` (a multi-get's answer); a missing one is created (with `create`).

    add(): if another process created one meanwhile, theirs wins. A memcached-only read creates
    none: its ids may be a client's guess, and memcached is not filled with versions of nothing.
    """
    versions: dict[int, object] = {}
    for object_id in ids:
        key = versioned.version_key(object_id)
        if key in got:
            versions[object_id] = got[key]
            continue
        if not create:
            continue
        fresh = _new_version()
        if not cache.add(key, fresh, None):
            fresh = cache.get(key, fresh)
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
