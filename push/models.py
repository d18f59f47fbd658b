from django.conf import settings
from django.db import models
from django.db.models.functions import Now


class Platform(models.TextChoices):
    IOS = "ios", "iOS"


class Device(models.Model):
    """A phone that receives its user's push notifications, by the token APNS gave the app.

    A token names one install of the app on one phone, so it belongs to one
    user at a time: registered again by another user (who logged in on the
    same phone), it moves to them. Apple retires tokens (410 Unregistered):
    the device stays, inactive, with the reason and time, until the app
    registers it again. Only `push.actions` writes devices.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="devices")
    token = models.CharField(
        max_length=64, unique=True, help_text="The APNS device token, 64 lowercase hex digits."
    )
    platform = models.CharField(max_length=8, choices=Platform.choices, default=Platform.IOS)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(db_default=Now())
    registered_at = models.DateTimeField(
        db_default=Now(), help_text="When the app last registered the token."
    )
    deactivated_at = models.DateTimeField(null=True, blank=True)
    deactivation_reason = models.CharField(
        max_length=64, blank=True, default="", help_text="Apple's reason (Unregistered...), or DeletedByApp."
    )

    class Meta:
        db_table = "push_device"

    def __str__(self) -> str:
        return f"{self.platform} {self.token[:8]}... of user {self.user_id}"


class Audience(models.TextChoices):
    """Whose actions of one kind push to a user, as the 2011 app's settings offered."""

    EVERYONE = "everyone"
    FOLLOWING = "following"  # only people the user follows
    OFF = "off"


class PushSettings(models.Model):
    """A user's choice of audience for each kind of push; no row means everyone for all.

    The field names are the kinds of `push_settings` in the API.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="push_settings"
    )
    likes = models.CharField(max_length=16, choices=Audience.choices, default=Audience.EVERYONE)
    comments = models.CharField(max_length=16, choices=Audience.choices, default=Audience.EVERYONE)
    follows = models.CharField(
        max_length=16, choices=Audience.choices, default=Audience.EVERYONE, help_text="New followers."
    )
    follow_requests = models.CharField(max_length=16, choices=Audience.choices, default=Audience.EVERYONE)
    mentions = models.CharField(max_length=16, choices=Audience.choices, default=Audience.EVERYONE)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "push_settings"
        verbose_name_plural = "push settings"

    def __str__(self) -> str:
        return f"push settings of user {self.user_id}"
