"""Operators' moderation: deactivate and reactivate accounts, remove photos and comments.

Removal goes through the users' own delete actions (photos.actions), so
counters, feeds, indexes, the CDN purge and the jobs stay what a user's
delete leaves; open reports of what was removed are resolved with it.
"""

from django.db import transaction

from instagram.errors import APINotFoundError
from photos.actions import check_delete_comment, do_delete_media
from photos.cache import media_cards
from reports.actions import comment_target, do_resolve_reports, media_target, user_target
from reports.models import Resolution
from users.cache import forget_profiles_on_commit
from users.models import AccountDeletion, User


def do_set_active(*, user_id: int, active: bool, by: User | None = None) -> bool:
    """Deactivate or reactivate an account; return False when it already was so.

    A deactivated account's tokens stop working at once (instagram.api reads
    is_active with the token, whose cached copy forget_profiles_on_commit
    makes stale on every app server) and its profile, media and
    comments leave every answer (users.cache loads active accounts only);
    nothing is deleted, so reactivating brings all of it back.
    """
    # A deleted account (users.deletion) stays inactive: its data is being, or has been, removed.
    accounts = User.objects.filter(id=user_id).exclude(id__in=AccountDeletion.objects.values("user_id"))
    with transaction.atomic(using="default"):
        changed = bool(accounts.exclude(is_active=active).update(is_active=active))
        forget_profiles_on_commit(user_id)
        if changed and not active:
            do_resolve_reports(targets=[user_target(user_id)], by=by, resolution=Resolution.DEACTIVATED)
    return changed


def do_remove_media(*, media_id: int, by: User | None = None) -> None:
    """Delete a photo as its owner's delete would; raise APINotFoundError when it is gone."""
    card = media_cards([media_id]).get(media_id)
    if card is None:
        raise APINotFoundError(f"No media with id {media_id}.")
    if not do_delete_media(media_id=media_id, owner_id=card.user_id):
        raise APINotFoundError(f"No media with id {media_id}.")
    do_resolve_reports(targets=[media_target(media_id)], by=by, resolution=Resolution.REMOVED)


def do_remove_comment(*, media_id: int, comment_id: int, by: User | None = None) -> None:
    """Delete a comment as the photo's owner may; raise APINotFoundError when it is gone."""
    card = media_cards([media_id]).get(media_id)
    owner = User.objects.filter(id=card.user_id).first() if card is not None else None
    if card is None or owner is None:
        raise APINotFoundError(f"No media with id {media_id}.")
    check_delete_comment(user=owner, card=card, comment_ref=str(comment_id))
    do_resolve_reports(targets=[comment_target(comment_id)], by=by, resolution=Resolution.REMOVED)
