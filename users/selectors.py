"""Reads of accounts, who may see what, and the v1 user object.

Visibility, as Instagram had it:
- a profile (the user object) is visible to everyone but the users it blocks;
- its content (media, likes, comments, follows and followed-by lists) also
  needs the viewer to be the owner, or the account public, or the viewer an
  approved follower; and no block either way.
"""

from typing import Any

from django.db.models import Q

from instagram.errors import APINotAllowedError, APINotFoundError, OAuthParameterException
from instagram.parameters import is_digits
from photos.storage import profile_picture_url
from relationships.models import Kind
from relationships.selectors import blocked_ids, relationship_state
from relationships.transitions import State
from users.cache import Profile, profile, profiles
from users.models import User


def _self(viewer: User | None) -> User:
    """The viewer "self" names; a read with only a client_id has none."""
    if viewer is None:
        raise OAuthParameterException("users/self needs an access_token: a client_id alone is nobody.")
    return viewer


def user_id_from(*, viewer: User | None, user_ref: str) -> int:
    """Return the id `user_ref` ("self" or a numeric id) names, or raise APINotFoundError."""
    if user_ref == "self":
        return _self(viewer).id
    if not is_digits(user_ref) or len(user_ref) > 19:
        raise APINotFoundError(f"No user with id {user_ref}.")
    return int(user_ref)


def access_user(*, viewer: User | None, user_ref: str) -> Profile:
    """Return the active user `user_ref`, whoever the viewer is, or raise APINotFoundError."""
    if user_ref == "self":
        return Profile.of(_self(viewer))  # read with the token, this request: fresher than any cache
    found = profile(user_id_from(viewer=viewer, user_ref=user_ref))
    if found is None:
        raise APINotFoundError(f"No user with id {user_ref}.")
    return found


def access_profile(*, viewer: User | None, user_ref: str) -> tuple[Profile, State]:
    """Return the user `user_ref` and the viewer's state towards them, if the viewer may see them.

    No viewer (a read with only a client_id) holds no relationship with anyone.
    """
    found = access_user(viewer=viewer, user_ref=user_ref)
    state = relationship_state(viewer_id=viewer.id, other_id=found.id) if viewer else frozenset()
    if Kind.BLOCKED_BY in state:
        raise APINotFoundError(f"No user with id {user_ref}.")
    return found, state


def may_see_content(*, viewer_id: int | None, owner: Profile, state: State) -> bool:
    """Say whether `viewer_id` may see `owner`'s media, likes, comments and lists.

    None is nobody (a read with only a client_id): public accounts only.
    """
    if viewer_id == owner.id:
        return True
    if state & {Kind.BLOCKS, Kind.BLOCKED_BY}:
        return False
    return not owner.is_private or Kind.FOLLOWS in state


def access_content_owner(*, viewer: User | None, user_ref: str) -> Profile:
    """Return the user `user_ref` if the viewer may see their content; else raise APINotAllowedError."""
    owner, state = access_profile(viewer=viewer, user_ref=user_ref)
    if not may_see_content(viewer_id=viewer.id if viewer else None, owner=owner, state=state):
        raise APINotAllowedError("you cannot view this resource")
    return owner


def visible_profiles(*, viewer: User | None, ids: list[int]) -> list[Profile]:
    """Return the users `ids` in order, leaving out deactivated ones and any block with the viewer."""
    hidden = blocked_ids(viewer_id=viewer.id) if ids and viewer else set()
    found = profiles(i for i in ids if i not in hidden)
    return [found[i] for i in ids if i in found]


def search_users(*, viewer: User | None, query: str, count: int) -> list[Profile]:
    """Return up to `count` users whose username or full name starts with `query`, by username.

    Both are prefix matches on lower-cased, pattern-indexed columns (see
    users.models), so a search never scans the accounts table.
    """
    needle = query.lower()
    hidden = blocked_ids(viewer_id=viewer.id) if viewer else set()
    ids = list(
        User.objects.filter(is_active=True)
        .filter(Q(username__lower__startswith=needle) | Q(full_name__lower__startswith=needle))
        .exclude(id__in=hidden)
        .order_by("username__lower")
        .values_list("id", flat=True)[:count]
    )
    found = profiles(ids)
    return [found[i] for i in ids if i in found]


def user_object(user: User | Profile) -> dict[str, Any]:
    """Return `user` shaped as Instagram's API v1 user object (ids as strings)."""
    if isinstance(user, User):
        user = Profile.of(user)
    return {
        "id": str(user.id),
        "username": user.username,
        "full_name": user.full_name,
        "profile_picture": profile_picture_url(user.profile_picture),
        "bio": user.bio,
        "website": user.website,
        "counts": {"media": user.media, "follows": user.follows, "followed_by": user.followed_by},
    }
