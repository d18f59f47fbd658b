"""The admin's accounts page: search, deactivate/reactivate, and a user's photos and comments to remove."""

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from instagram.errors import APIError
from moderation.actions import do_remove_comment, do_remove_media, do_set_active
from moderation.selectors import user_media_rows
from reports.selectors import open_reports_against
from users.models import User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):  # type: ignore[type-arg]
    list_display = [
        "username",
        "full_name",
        "email",
        "is_active",
        "media_count",
        "followed_by_count",
        "content",
    ]
    list_filter = ["is_active", "is_private", "is_staff"]
    search_fields = ["username", "email", "full_name"]
    ordering = ["username"]
    actions = ["deactivate", "reactivate"]
    readonly_fields = ["media_count", "follows_count", "followed_by_count", "last_login", "date_joined"]
    fieldsets = (
        *DjangoUserAdmin.fieldsets,  # type: ignore[misc]
        ("Instagram", {"fields": ["bio", "website", "is_private", *readonly_fields[:3]]}),
    )

    @admin.display(description="photos and comments")
    def content(self, user: User) -> str:
        return format_html(
            '<a href="{}">photos and comments</a>', reverse("admin:users_user_content", args=[user.id])
        )

    @admin.action(description="Deactivate the selected accounts (tokens stop working, content hidden)")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_active(request, queryset, active=False)

    @admin.action(description="Reactivate the selected accounts")
    def reactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_active(request, queryset, active=True)

    def _set_active(self, request: HttpRequest, queryset: QuerySet[User], *, active: bool) -> None:
        by = request.user if isinstance(request.user, User) else None
        verb = "Reactivated" if active else "Deactivated"
        changed = []
        for user in queryset:
            if do_set_active(user_id=user.id, active=active, by=by):
                changed.append(user.username)
                self.log_change(request, user, verb)  # the account's history names the operator
        self.message_user(
            request, f"{verb} {len(changed)} account(s): {', '.join(changed) or 'none'}.", messages.SUCCESS
        )

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:user_id>/content/",
                self.admin_site.admin_view(self.content_view),
                name="users_user_content",
            )
        ]
        return own + super().get_urls()

    def content_view(self, request: HttpRequest, user_id: int) -> HttpResponse:
        """GET: the user's newest photos with their comments. POST: remove one photo or one comment."""
        user = get_object_or_404(User, id=user_id)
        if request.method == "POST":
            if not self.has_change_permission(request, user):
                raise PermissionDenied
            self._remove(request, user)
            return HttpResponseRedirect(request.path)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": f"Photos and comments of {user.username}",
            "subject": user,
            "opts": self.model._meta,
            "rows": user_media_rows(user_id=user.id),
            "reports": open_reports_against(user_id=user.id),
            "can_remove": self.has_change_permission(request, user),
        }
        return TemplateResponse(request, "moderation/user_content.html", context)

    def _remove(self, request: HttpRequest, subject: User) -> None:
        by = request.user if isinstance(request.user, User) else None
        media_id, comment_id = request.POST.get("media", ""), request.POST.get("comment", "")
        if not media_id.isascii() or not media_id.isdigit() or (comment_id and not comment_id.isdigit()):
            self.message_user(request, "Nothing to remove.", messages.ERROR)
            return
        try:
            if comment_id:
                do_remove_comment(media_id=int(media_id), comment_id=int(comment_id), by=by)
                done = f"Removed comment {comment_id} on photo {media_id}."
            else:
                do_remove_media(media_id=int(media_id), by=by)
                done = f"Removed photo {media_id}."
        except APIError as exc:  # removed meanwhile (another operator, or its owner)
            self.message_user(request, exc.message, messages.WARNING)
            return
        self.log_change(request, subject, done)
        self.message_user(request, done, messages.SUCCESS)
