"""memcached copies of public user profiles, never served stale after a change
(versioned keys: see instagram.versioned_cache)."""

from collections.abc import Iterable
from dataclasses import dataclass

from instagram.versioned_cache import Read, VersionedCache
from users.models import User


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


PROFILES: VersionedCache[Profile] = VersionedCache("users.profile", kind=Profile)
version_key = PROFILES.version_key
profile_key = PROFILES.key


def _load(ids: list[int]) -> dict[int, Profile]:
    rows = User.objects.filter(id__in=ids, is_active=True).only(*PROFILE_FIELDS)
    return {user.id: Profile.of(user) for user in rows}


def profiles(ids: Iterable[int]) -> dict[int, Profile]:
    """Return the active users among `ids` as Profiles: memcached first, one query for the rest."""
    return PROFILES.get_many(ids, _load)


def profiles_read(ids: Iterable[int]) -> Read[Profile]:
    """profiles(ids) as a part of a versioned_cache.read_together() (one round trip with other kinds)."""
    return Read(PROFILES, ids, _load)


def cached_profiles_read(ids: Iterable[int]) -> Read[Profile]:
    """profiles_read(ids) from memcached only: what is missing is left out, never read from the database.

    For ids a request only guesses (a media ref's user part): a wrong or
    made-up one costs no query.
    """
    return Read(PROFILES, ids, None)


def profile(user_id: int) -> Profile | None:
    return profiles([user_id]).get(user_id)


def forget_profiles_on_commit(*user_ids: int) -> None:
    """Bump the users' cache versions once the current main-database transaction commits.

    Call it inside the transaction that changes the rows (or outside any:
    then at once).
    """
    from oauth.cache import forget_credentials_on_commit  # the token cache holds the user row too

    PROFILES.forget_on_commit(*user_ids, using="default")
    forget_credentials_on_commit(user_ids=user_ids)
