from django.contrib import admin
from django.http import HttpRequest

from subscriptions.models import Subscription


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Operators see and delete subscriptions; the encrypted secret is neither shown nor editable."""

    list_display = ["id", "application", "object", "object_id", "callback_url", "created_at"]
    list_filter = ["object"]
    search_fields = ["object_id", "callback_url", "application__name", "application__client_id"]
    raw_id_fields = ["application"]
    exclude = ["client_secret"]
    readonly_fields = ["created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A subscription is made through the API, after its callback's handshake.
        return False
