"""v1 endpoints of the mobile app's push notifications: its devices and the user's push settings.

Only the mobile app's own tokens may call them: a third-party app holding a
user's token must not register a phone of its own to receive that user's
notifications (who liked what, the text of comments on a private account).
"""

from django.http import JsonResponse

from instagram.api import APIRequest, api_endpoint, params
from instagram.errors import envelope
from push.actions import check_change_push_settings, check_register_device, check_unregister_device
from push.models import Platform
from push.selectors import device_object, push_settings_of
from users.models import User


def _mobile_app_user(request: APIRequest) -> User:
    """Return the caller; api_endpoint(first_party=True) has already refused other apps' tokens."""
    return request.api_user


@api_endpoint(methods=("POST",), first_party=True)
def devices(request: APIRequest) -> JsonResponse:
    """POST token=<APNS device token>: register this phone for the caller's pushes (again: reactivate it)."""
    user = _mobile_app_user(request)
    values = params(request)
    device, created = check_register_device(
        user=user, token=values.get("token", ""), platform=values.get("platform") or Platform.IOS
    )
    return envelope(device_object(device), status=201 if created else 200)


@api_endpoint(methods=("DELETE",), first_party=True)
def device(request: APIRequest, token: str) -> JsonResponse:
    """DELETE: stop pushing to this phone (the app logs out)."""
    check_unregister_device(user=_mobile_app_user(request), token=token)
    return envelope(None)


@api_endpoint(methods=("GET", "POST"), first_party=True)
def push_settings(request: APIRequest) -> JsonResponse:
    """GET: the caller's push settings. POST any of them: change those."""
    user = _mobile_app_user(request)
    if request.method == "POST":
        return envelope(check_change_push_settings(user=user, values=params(request)))
    return envelope(push_settings_of(user_id=user.id))
