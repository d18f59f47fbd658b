from django.contrib import admin
from django.http import HttpRequest

from users.models import AccountDeletion


@admin.register(AccountDeletion)
class AccountDeletionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Account deletions and where each one is (users.deletion); read-only: the job moves them."""

    list_display = ("user_id", "step", "cursor", "media_count", "requested_at", "updated_at", "finished_at")
    list_filter = ("step",)
    search_fields = ("user_id",)
    readonly_fields = [field.name for field in AccountDeletion._meta.fields]

    @admin.display(description="media deleted")
    def media_count(self, deletion: AccountDeletion) -> int:
        return len(deletion.media)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AccountDeletion | None = None) -> bool:
        return False
