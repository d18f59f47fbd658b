"""Reads of reports for operators."""

from reports.models import Report


def open_reports_against(*, user_id: int, count: int = 50) -> list[Report]:
    """Return the newest `count` open reports of `user_id`'s account, photos and comments."""
    reports = Report.objects.filter(target_user_id=user_id, resolved_at__isnull=True).select_related(
        "reporter"
    )
    return list(reports.order_by("-created_at")[:count])
