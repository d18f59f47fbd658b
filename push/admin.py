from django.contrib import admin

from push.models import Device, PushSettings


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["token", "user", "platform", "active", "registered_at", "deactivation_reason"]
    list_filter = ["active", "platform", "deactivation_reason"]
    search_fields = ["token", "user__username"]
    raw_id_fields = ["user"]
    readonly_fields = ["created_at", "registered_at", "deactivated_at"]


@admin.register(PushSettings)
class PushSettingsAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["user", "likes", "comments", "follows", "follow_requests", "mentions", "updated_at"]
    search_fields = ["user__username"]
    raw_id_fields = ["user"]
