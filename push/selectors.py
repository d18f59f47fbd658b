"""Reads of push state: a user's devices and push settings, as models and as v1 objects."""

from typing import Any

from push.models import Audience, Device, PushSettings
from push.notifications import SETTINGS


def push_settings_of(*, user_id: int) -> dict[str, str]:
    """Return the user's audience for each kind of push (everyone for all when never changed)."""
    row = PushSettings.objects.filter(user_id=user_id).values(*SETTINGS).first()
    return {name: str((row or {}).get(name, Audience.EVERYONE)) for name in SETTINGS}


def active_devices(*, user_id: int) -> list[Device]:
    """Return the user's active devices, oldest first."""
    return list(Device.objects.filter(user_id=user_id, active=True).order_by("id"))


def device_object(device: Device) -> dict[str, Any]:
    """Return the API's view of a device."""
    return {
        "token": device.token,
        "platform": device.platform,
        "active": device.active,
        "created_time": str(int(device.created_at.timestamp())),
    }
