"""Reports in the admin: filter by kind, reason and state; resolve, remove the content, deactivate."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from instagram.errors import APIError
from moderation.actions import do_remove_comment, do_remove_media, do_set_active
from reports.actions import do_dismiss_reports, do_resolve_reports
from reports.models import Kind, Report, Resolution
from users.models import User


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:  # type: ignore[type-arg]
        return [("open", "open"), ("resolved", "resolved")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Report]) -> QuerySet[Report]:
        if self.value() == "open":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


def _operator(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "id",
        "kind",
        "target",
        "target_user",
        "content",
        "reason",
        "reporter",
        "created_at",
        "resolution",
    ]
    list_filter = ["kind", "reason", OpenFilter, "resolution"]
    search_fields = ["target", "target_user__username", "reporter__username", "text"]
    raw_id_fields = ["reporter", "target_user", "resolved_by"]
    readonly_fields = ["created_at", "resolved_at", "resolved_by", "resolution"]
    ordering = ["-created_at"]
    actions = ["resolve", "remove_content", "deactivate_account"]

    @admin.display(description="content")
    def content(self, report: Report) -> str:
        """Link the page that shows the reported photo or comment: its photo's owner's photos and comments."""
        url = reverse("admin:users_user_content", args=[report.media_owner_id or report.target_user_id])
        return format_html('<a href="{}">photos and comments</a>', url)

    @admin.action(description="Resolve: nothing to do (dismiss)")
    def resolve(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        by = _operator(request)
        assert by is not None  # the admin admits staff users only
        count = do_dismiss_reports(report_ids=list(queryset.values_list("id", flat=True)), by=by)
        self.message_user(request, f"Dismissed {count} report(s).", messages.SUCCESS)

    @admin.action(description="Remove the reported photo or comment (resolves its reports)")
    def remove_content(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        removed = 0
        for report in queryset.exclude(kind=Kind.USER).order_by("id"):
            assert report.media_id is not None
            try:
                if report.kind == Kind.COMMENT:
                    assert report.comment_id is not None
                    do_remove_comment(
                        media_id=report.media_id, comment_id=report.comment_id, by=_operator(request)
                    )
                else:
                    do_remove_media(media_id=report.media_id, by=_operator(request))
                removed += 1
            except APIError as exc:  # already removed (another report of it, or its owner)
                self.message_user(request, f"{report.target}: {exc.message}", messages.WARNING)
        self.message_user(request, f"Removed {removed} photo(s) or comment(s).", messages.SUCCESS)

    @admin.action(description="Deactivate the reported accounts (the owners or authors)")
    def deactivate_account(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        user_ids = sorted(set(queryset.values_list("target_user_id", flat=True)))
        changed = sum(do_set_active(user_id=i, active=False, by=_operator(request)) for i in user_ids)
        targets = list(queryset.values_list("target", flat=True))
        do_resolve_reports(targets=targets, by=_operator(request), resolution=Resolution.DEACTIVATED)
        self.message_user(request, f"Deactivated {changed} account(s).", messages.SUCCESS)
