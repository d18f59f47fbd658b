from django.db import models
from django.db.models.functions import Now

from sharding.models import ShardedModel


class Media(ShardedModel):
    """A posted photo, stored on its owner's logical shard (its ID names that shard)."""

    user_id = models.BigIntegerField()
    caption = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "media"
        indexes = [models.Index(fields=["user_id", "-id"], name="media_user_recent")]
