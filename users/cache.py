"""memcached copies of public user profiles, never served stale after a change.

Each user has a version number in memcached, and the profile is cached
under a key that contains it. A change bumps the version once its
transaction commits, so a reader that raced with the change (read the old
row, stored it late) can only fill a key nobody reads any more. A lost or
evicted version is replaced by a random one, which orphans every old copy.

Cache trouble (memcached down) is a miss: the database answers.
"""

import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import pylibmc
from django.core.cache import cache
from django.db import transaction

from users.models import User

logger = logging.getLogger(__name__)

TIMEOUT = 24 * 3600


@dataclass(frozen=True)
class Profile:
    """The public part of an account: what the v1 user object shows, and its privacy."""

    id: int
    username: str
    full_name: str
    profile_picture: str
    bio: str
    website: str
    is_private: bool
    media: int
    follows: int
    followed_by: int

    @classmethod
    def of(cls, user: User) -> "Profile":
        return cls(
            id=user.id,
            username=user.username,
            full_name=user.full_name,
            profile_picture=user.profile_picture,
            bio=user.bio,
            website=user.website,
            is_private=user.is_private,
            media=user.media_count,
            follows=user.follows_count,
            followed_by=user.followed_by_count,
        )


PROFILE_FIELDS = [
    "id",
    "username",
    "full_name",
    "profile_picture",
    "bio",
    "website",
    "is_private",
    "media_count",
    "follows_count",
    "followed_by_count",
]


def version_key(user_id: int) -> str:
    return f"users.profile.v:{user_id}"


def profile_key(user_id: int, version: object) -> str:
    return f"users.profile:{user_id}:{version}"


def _new_version() -> int:
    return secrets.randbits(48)


def _versions(ids: list[int]) -> dict[int, object]:
    keys = {version_key(i): i for i in ids}
    found = cache.get_many(list(keys))
    versions = {keys[k]: v for k, v in found.items()}
    for user_id in ids:
        if user_id not in versions:
            fresh = _new_version()
            # add(): if another process set one meanwhile, theirs wins.
            if not cache.add(version_key(user_id), fresh, None):
                fresh = cache.get(version_key(user_id), fresh)
            versions[user_id] = fresh
    return versions


def profiles(ids: Iterable[int]) -> dict[int, Profile]:
    """Return the active users among `ids` as Profiles: memcached first, one query for the rest."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    found: dict[int, Profile] = {}
    versions: dict[int, object] = {}
    try:
        versions = _versions(wanted)
        keys = {profile_key(i, versions[i]): i for i in wanted}
        found = {keys[k]: v for k, v in cache.get_many(list(keys)).items() if isinstance(v, Profile)}
    except pylibmc.Error as exc:  # memcached trouble is a miss, never an outage
        logger.warning("user cache unavailable: %s", exc)
        versions = {}
    missing = [i for i in wanted if i not in found]
    if missing:
        rows = User.objects.filter(id__in=missing, is_active=True).only(*PROFILE_FIELDS)
        loaded = {user.id: Profile.of(user) for user in rows}
        found.update(loaded)
        if versions and loaded:
            try:
                cache.set_many({profile_key(i, versions[i]): p for i, p in loaded.items()}, TIMEOUT)
            except pylibmc.Error as exc:
                logger.warning("user cache unavailable: %s", exc)
    return found


def profile(user_id: int) -> Profile | None:
    return profiles([user_id]).get(user_id)


def forget_profiles_on_commit(*user_ids: int) -> None:
    """Bump the users' cache versions once the current main-database transaction commits.

    Call it inside the transaction that changes the rows (or outside any:
    then at once).
    """
    ids = sorted(set(user_ids))
    transaction.on_commit(lambda: _bump(ids), using="default")


def _bump(user_ids: list[int]) -> None:
    for user_id in user_ids:
        try:
            try:
                cache.incr(version_key(user_id))
            except ValueError:  # no version yet (or evicted): any new one orphans old copies
                cache.set(version_key(user_id), _new_version(), None)
        except pylibmc.Error as exc:
            logger.error("could not invalidate the cached profile of user %s: %s", user_id, exc)
