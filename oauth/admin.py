"""The admin for registered apps: DOT's Application admin, plus v1's client policy inline."""

from typing import Any

from django.contrib import admin
from django.contrib.auth.hashers import identify_hasher
from django.http import HttpRequest
from oauth2_provider.admin import ApplicationAdmin
from oauth2_provider.models import Application

from instagram.crypto import encrypt
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

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Keep the app's secret for signed requests whenever the admin sets one in clear.

        DOT stores only a hash of the client secret, and signed requests need
        the secret itself (an HMAC key): a new app, or a secret typed in anew,
        is seen in clear here once, and kept encrypted on its client policy,
        as register_client does.
        """
        super().save_related(request, form, formsets, change)
        secret = str(form.cleaned_data.get("client_secret") or "")
        try:
            identify_hasher(secret)
            return  # the stored hash, unchanged
        except ValueError:
            pass
        if secret:
            policy, _ = ClientPolicy.objects.get_or_create(application=form.instance)
            policy.signing_secret = encrypt(secret)
            policy.save(update_fields=["signing_secret"])

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
