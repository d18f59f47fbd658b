"""Writes to reports: a user files one (once per target), an operator resolves them."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from instagram.errors import APIInvalidParametersError, APINotFoundError
from instagram.parameters import is_digits
from photos.models import Comment
from photos.selectors import access_media
from reports.models import Kind, Reason, Report, Resolution
from sharding.routing import shard_for_id
from users.models import User
from users.selectors import access_profile

MAX_TEXT = 1000


def media_target(media_id: int) -> str:
    return f"{Kind.MEDIA}:{media_id}"


def comment_target(comment_id: int) -> str:
    return f"{Kind.COMMENT}:{comment_id}"


def user_target(user_id: int) -> str:
    return f"{Kind.USER}:{user_id}"


def _reason_and_text(values: dict[str, str]) -> tuple[str, str]:
    # As sent: the reasons are the app's fixed list, not free text to normalize.
    reason = values.get("reason", "")
    if reason not in Reason.values:
        raise APIInvalidParametersError(f"reason must be one of {', '.join(Reason.values)}.")
    text = values.get("text", "")
    if len(text) > MAX_TEXT:
        raise APIInvalidParametersError(f"text: at most {MAX_TEXT} characters (got {len(text)}).")
    return reason, text.strip()


def _not_own(reporter: User, owner_id: int) -> None:
    if reporter.id == owner_id:
        raise APIInvalidParametersError("You cannot report your own account or content.")


def check_report_media(*, reporter: User, media_ref: str, values: dict[str, str]) -> tuple[Report, bool]:
    """Report a photo the reporter may see; return the report and whether it is new."""
    reason, text = _reason_and_text(values)
    card = access_media(viewer=reporter, ref=media_ref)
    _not_own(reporter, card.user_id)
    return do_report(
        reporter=reporter,
        kind=Kind.MEDIA,
        target=media_target(card.id),
        target_user_id=card.user_id,
        media_id=card.id,
        media_owner_id=card.user_id,
        reason=reason,
        text=text,
    )


def check_report_comment(
    *, reporter: User, media_ref: str, comment_ref: str, values: dict[str, str]
) -> tuple[Report, bool]:
    """Report a comment on a photo the reporter may see."""
    reason, text = _reason_and_text(values)
    card = access_media(viewer=reporter, ref=media_ref)
    if not is_digits(comment_ref) or len(comment_ref) > 19:
        raise APINotFoundError(f"No comment with id {comment_ref[:40]}.")
    if card.caption and int(comment_ref) == card.caption_id:
        # Listed as the owner's first comment (v1), the caption is the photo's: report the photo.
        return check_report_media(reporter=reporter, media_ref=media_ref, values=values)
    with shard_for_id(card.id, read_only=True):
        author_id = (
            Comment.objects.filter(id=int(comment_ref), media_id=card.id)
            .values_list("user_id", flat=True)
            .first()
        )
    if author_id is None:
        raise APINotFoundError(f"No comment with id {comment_ref[:40]}.")
    _not_own(reporter, author_id)
    return do_report(
        reporter=reporter,
        kind=Kind.COMMENT,
        target=comment_target(int(comment_ref)),
        target_user_id=author_id,
        media_id=card.id,
        media_owner_id=card.user_id,
        comment_id=int(comment_ref),
        reason=reason,
        text=text,
    )


def check_report_user(*, reporter: User, user_ref: str, values: dict[str, str]) -> tuple[Report, bool]:
    """Report an account the reporter may see (not one that blocks them)."""
    reason, text = _reason_and_text(values)
    found, _ = access_profile(viewer=reporter, user_ref=user_ref)
    _not_own(reporter, found.id)
    return do_report(
        reporter=reporter,
        kind=Kind.USER,
        target=user_target(found.id),
        target_user_id=found.id,
        reason=reason,
        text=text,
    )


def do_report(
    *,
    reporter: User,
    kind: str,
    target: str,
    target_user_id: int,
    reason: str,
    text: str,
    media_id: int | None = None,
    media_owner_id: int | None = None,
    comment_id: int | None = None,
) -> tuple[Report, bool]:
    """File the report unless this reporter already reported this target (then return that one)."""
    existing = Report.objects.filter(reporter=reporter, target=target).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic(using="default"):
            report = Report.objects.create(
                reporter=reporter,
                kind=kind,
                target=target,
                target_user_id=target_user_id,
                media_id=media_id,
                media_owner_id=media_owner_id,
                comment_id=comment_id,
                reason=reason,
                text=text,
            )
    except IntegrityError:  # the same report, sent twice at once: the other request filed it
        return Report.objects.get(reporter=reporter, target=target), False
    report.refresh_from_db(fields=["created_at"])
    return report, True


def do_resolve_reports(*, targets: list[str], by: User | None, resolution: str) -> int:
    """Close every open report of `targets` with `resolution`; return how many were open."""
    return Report.objects.filter(target__in=targets, resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=by, resolution=resolution
    )


def do_dismiss_reports(*, report_ids: list[int], by: User) -> int:
    """Close the open reports `report_ids`, nothing done to their targets."""
    return Report.objects.filter(id__in=report_ids, resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=by, resolution=Resolution.DISMISSED
    )
