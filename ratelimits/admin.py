from django.contrib import admin

from ratelimits.models import ClientLimit


@admin.register(ClientLimit)
class ClientLimitAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["application", "requests_per_hour", "writes_per_hour"]
    raw_id_fields = ["application"]
