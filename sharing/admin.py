from django.contrib import admin

from sharing.models import LinkedAccount


@admin.register(LinkedAccount)
class LinkedAccountAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Who linked what; the encrypted tokens are neither shown nor editable."""

    list_display = ["user", "service", "remote_name", "remote_id", "created_at", "updated_at"]
    list_filter = ["service"]
    search_fields = ["user__username", "remote_name"]
    raw_id_fields = ["user"]
    fields = ["user", "service", "remote_id", "remote_name", "created_at", "updated_at"]
    readonly_fields = ["user", "service", "created_at", "updated_at"]

    def has_add_permission(self, request: object) -> bool:
        return False  # a link needs the user's tokens: through the API only
