"""The admin for registered apps: DOT's Application admin, plus v1's client policy inline."""

from django.contrib import admin
from oauth2_provider.admin import ApplicationAdmin
from oauth2_provider.models import Application

from oauth.models import ClientPolicy


class ClientPolicyInline(admin.StackedInline):  # type: ignore[type-arg]
    model = ClientPolicy
    can_delete = False
    verbose_name = verbose_name_plural = "Instagram client policy"


class InstagramApplicationAdmin(ApplicationAdmin):  # type: ignore[misc]
    inlines = [ClientPolicyInline]
    list_display = (
        "name",
        "client_id",
        "user",
        "client_type",
        "authorization_grant_type",
        "trusted",
        "signed_requests",
    )
    list_select_related = ("user", "policy")

    @admin.display(boolean=True, description="trusted")
    def trusted(self, application: Application) -> bool:
        policy = getattr(application, "policy", None)
        return bool(policy and policy.trusted)

    @admin.display(boolean=True, description="signed requests")
    def signed_requests(self, application: Application) -> bool:
        policy = getattr(application, "policy", None)
        return bool(policy and policy.enforce_signed_requests)


# DOT registered its own ApplicationAdmin (oauth2_provider comes first in INSTALLED_APPS).
admin.site.unregister(Application)
admin.site.register(Application, InstagramApplicationAdmin)
