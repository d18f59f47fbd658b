"""Writes of push state: devices registered, moved, deactivated; push settings changed.

Devices live in the main database, one row per APNS token. Each write is one
short transaction there; registering locks the token's row, so two
registrations of one token (a retry racing the first try, two users on one
phone) end with one row and the last caller owning it.
"""

import logging
import re
from datetime import datetime

from django.db import transaction
from django.db.models.functions import Now
from django.utils import timezone

from instagram.errors import APIInvalidParametersError, APINotFoundError
from push.models import Audience, Device, Platform, PushSettings
from push.notifications import SETTINGS
from push.selectors import push_settings_of
from users.models import User

logger = logging.getLogger(__name__)

DEVICE_TOKEN = re.compile(r"[0-9a-fA-F]{64}")
DELETED_BY_APP = "DeletedByApp"


def check_device_token(raw: str) -> str:
    """Return `raw` as a device token (lowercase hex), or raise naming the problem."""
    if not DEVICE_TOKEN.fullmatch(raw):
        raise APIInvalidParametersError("token must be the APNS device token: 64 hexadecimal digits.")
    return raw.lower()


def check_register_device(*, user: User, token: str, platform: str) -> tuple[Device, bool]:
    """Validate and register a device; return it and whether it is new to the user."""
    token = check_device_token(token)
    if platform not in Platform.values:
        raise APIInvalidParametersError(f"platform must be one of: {', '.join(Platform.values)}.")
    return do_register_device(user=user, token=token, platform=platform)


def do_register_device(*, user: User, token: str, platform: str) -> tuple[Device, bool]:
    """Register `token` as `user`'s, active; return the device and whether it is new to the user.

    Registering again reactivates the device (the app registers at every
    launch, and after Apple retired a token it may hand the same one back);
    a token another user registered moves to this one.
    """
    with transaction.atomic():
        device, created = Device.objects.select_for_update().get_or_create(
            token=token, defaults={"user": user, "platform": platform}
        )
        if created:
            return device, True
        previous_user_id = device.user_id
        device.user = user
        device.platform = platform
        device.active = True
        device.registered_at = timezone.now()
        device.deactivated_at = None
        device.deactivation_reason = ""
        device.save(
            update_fields=[
                "user",
                "platform",
                "active",
                "registered_at",
                "deactivated_at",
                "deactivation_reason",
            ]
        )
    if previous_user_id != user.id:
        logger.info("device %s... moved from user %s to user %s", token[:8], previous_user_id, user.id)
    return device, previous_user_id != user.id


def check_unregister_device(*, user: User, token: str) -> None:
    """Deactivate one of the user's devices (the app logs out); APINotFoundError when it is not theirs."""
    token = check_device_token(token)
    device = Device.objects.filter(token=token, user=user).only("id").first()
    if device is None:
        raise APINotFoundError("No device with that token is registered to you.")
    do_deactivate_device(device_id=device.id, reason=DELETED_BY_APP)


def do_deactivate_device(*, device_id: int, reason: str, invalid_since: datetime | None = None) -> bool:
    """Deactivate a device with `reason`; return whether it was active.

    With `invalid_since` (Apple's 410 timestamp), a device registered again
    after that moment is left active: the app has a newer registration.
    """
    devices = Device.objects.filter(id=device_id, active=True)
    if invalid_since is not None:
        devices = devices.filter(registered_at__lt=invalid_since)
    return devices.update(active=False, deactivated_at=Now(), deactivation_reason=reason[:64]) == 1


def check_change_push_settings(*, user: User, values: dict[str, str]) -> dict[str, str]:
    """Validate some of the user's push settings and change them; return all of them."""
    unknown = sorted(set(values) - set(SETTINGS))
    if unknown:
        raise APIInvalidParametersError(
            f"Unknown push setting: {unknown[0][:40]}. The settings are {', '.join(SETTINGS)}."
        )
    if not values:
        raise APIInvalidParametersError(f"Send at least one push setting: {', '.join(SETTINGS)}.")
    for name, value in values.items():
        if value not in Audience.values:
            raise APIInvalidParametersError(f"{name} must be one of: {', '.join(Audience.values)}.")
    return do_change_push_settings(user=user, changes=values)


def do_change_push_settings(*, user: User, changes: dict[str, str]) -> dict[str, str]:
    """Set the audiences in `changes` (setting name -> Audience value); return all of the user's settings."""
    PushSettings.objects.update_or_create(user=user, defaults=changes)
    return push_settings_of(user_id=user.id)
