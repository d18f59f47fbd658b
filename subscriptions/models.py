"""Real-time subscriptions of API v1: an app asks to be told when media matching an object is posted.

Unsharded, in the main database beside the OAuth applications they belong to:
they are few (per app, not per user) and every posted media is matched
against all of them in one query.
"""

from django.db import models
from django.db.models.functions import Now
from oauth2_provider.models import Application

MAX_CALLBACK_URL = 1024


class SubscriptionObject(models.TextChoices):
    """What a subscription watches; `object_id` says which one."""

    USER = "user", "media of any user who authorised the app"
    TAG = "tag", "media carrying a tag"
    LOCATION = "location", "media taken at a location"
    GEOGRAPHY = "geography", "media taken within a radius of a point"


class Subscription(models.Model):
    """`application` wants an update at `callback_url` for each new media matching `object`/`object_id`.

    `object_id` is the normalized tag name (photos.text.normalize_tag) or the
    location id; empty for a user subscription (any user who authorised the
    app) and for a geography, whose v1 object id is the subscription's own id
    and whose circle is `latitude`, `longitude` and `radius` (meters).

    `client_secret` is the app's secret, encrypted (instagram.crypto), as the
    app presented it when it last subscribed: DOT keeps only a hash, and the
    updates are signed with the secret itself.
    """

    id = models.BigAutoField(primary_key=True)
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="subscriptions")
    object = models.CharField(max_length=16, choices=SubscriptionObject.choices)
    object_id = models.CharField(max_length=100, blank=True, default="")
    aspect = models.CharField(max_length=16, default="media")
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    radius = models.PositiveIntegerField(null=True, blank=True)
    callback_url = models.CharField(max_length=MAX_CALLBACK_URL)
    client_secret = models.TextField(help_text="The app's client secret, encrypted (instagram.crypto).")
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "subscription"
        constraints = [
            # The same subscription twice is one subscription (POST is idempotent).
            models.UniqueConstraint(
                fields=["application", "object", "object_id", "aspect", "callback_url"],
                condition=~models.Q(object=SubscriptionObject.GEOGRAPHY),
                name="subscription_once",
            ),
            models.UniqueConstraint(
                fields=["application", "latitude", "longitude", "radius", "aspect", "callback_url"],
                condition=models.Q(object=SubscriptionObject.GEOGRAPHY),
                name="geography_subscription_once",
            ),
            models.CheckConstraint(
                condition=~models.Q(object=SubscriptionObject.GEOGRAPHY)
                | models.Q(latitude__isnull=False, longitude__isnull=False, radius__gt=0),
                name="geography_has_a_circle",
            ),
        ]
        indexes = [
            # Matching a media: its tags and location by object id, a band of latitudes for geographies.
            models.Index(fields=["object", "object_id"], name="subscription_match"),
            models.Index(
                fields=["latitude"],
                condition=models.Q(object=SubscriptionObject.GEOGRAPHY),
                name="subscription_geography",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.object} {self.object_id or self.id} -> {self.callback_url}"
