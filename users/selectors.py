"""Reads of accounts, and the v1 user object."""

from typing import Any

from instagram.api import APINotAllowedError
from instagram.errors import APINotFoundError
from users.models import User


def access_user(*, viewer: User, user_ref: str) -> User:
    """Return the user `user_ref` ("self" or a numeric id) as `viewer` may see it, or raise."""
    if user_ref == "self":
        return viewer
    if not user_ref.isdigit():
        raise APINotFoundError(f"No user with id {user_ref}.")
    user = User.objects.filter(id=int(user_ref), is_active=True).first()
    if user is None:
        raise APINotFoundError(f"No user with id {user_ref}.")
    if user.is_private and user.id != viewer.id:
        # Approved followers will see private accounts once relationships exist.
        raise APINotAllowedError("you cannot view this resource")
    return user


def user_object(user: User) -> dict[str, Any]:
    """Return `user` shaped as Instagram's API v1 user object (ids as strings)."""
    return {
        "id": str(user.id),
        "username": user.username,
        "full_name": user.full_name,
        "profile_picture": user.profile_picture,
        "bio": user.bio,
        "website": user.website,
        "counts": {
            "media": user.media_count,
            "follows": user.follows_count,
            "followed_by": user.followed_by_count,
        },
    }
