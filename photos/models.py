"""Photos and what hangs off them.

Placement (../shared/DESIGN.md): a media row lives on its owner's logical
shard, so its ID names that shard; its likes and comments live with it. A
like is also stored on the liker's shard (`LikedMedia`), so "what did I
like" is a shard-local index scan, as follow edges are stored twice. The
tag index is sharded by tag name (`TagMedia`, on the tag's shard), so one
tag's page is one index scan; a location's media likewise (`LocationMedia`,
on the location's shard). Locations and the per-tag counts are small,
unsharded tables in the main database.
"""

from django.contrib.postgres.fields import ArrayField
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Value
from django.db.models.functions import Now

from sharding.models import ShardedModel


class Media(ShardedModel):
    """A posted photo, stored on its owner's logical shard (its ID names that shard).

    The photo's files are the objects `<object_prefix>/<rendition>.jpg` in
    the media bucket; the prefix is random and never reused, so a URL once
    served always means the same bytes.
    """

    user_id = models.BigIntegerField()
    caption = models.TextField(blank=True, default="")
    # The caption's own comment id (the shard's next_id(), like a comment's): v1 clients read
    # caption.id as the id of the owner's first comment. NULL for rows older than the column.
    caption_id = models.BigIntegerField(null=True)
    filter_name = models.CharField(max_length=32, default="normal")
    object_prefix = models.CharField(max_length=64, default="")
    original_width = models.PositiveIntegerField(default=0)
    original_height = models.PositiveIntegerField(default=0)
    location_id = models.BigIntegerField(null=True)
    latitude = models.FloatField(null=True)
    longitude = models.FloatField(null=True)
    tags = ArrayField(models.CharField(max_length=100), default=list)
    share_targets = ArrayField(models.CharField(max_length=16), default=list)
    # Each share target's outcome, written by the sharing worker (sharing.actions):
    # {"twitter": {"status": "shared", "id": "...", "at": "<ISO 8601>", "attempts": 1}, ...}.
    # db_default: rows inserted by code older than this column get {} too.
    share_results = models.JSONField(default=dict, db_default=Value({}, output_field=models.JSONField()))
    # The people tagged in the photo: [{"user_id": 123, "x": 0.3, "y": 0.6}], x and y in 0..1
    # from the photo's top left (v1's users_in_photo positions).
    users_in_photo = models.JSONField(default=list, db_default=Value([], output_field=models.JSONField()))
    like_count = models.PositiveIntegerField(default=0)
    comment_count = models.PositiveIntegerField(default=0)
    # The client's idempotency key: a retried upload finds the media it made.
    # NULL, not "", for "none given": the unique constraint skips NULLs.
    upload_key = models.CharField(max_length=64, null=True)  # noqa: DJ001
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "media"
        indexes = [models.Index(fields=["user_id", "-id"], name="media_user_recent")]
        constraints = [
            models.UniqueConstraint(
                fields=["user_id", "upload_key"],
                condition=models.Q(upload_key__isnull=False),
                name="media_upload_once",
            )
        ]


class Like(ShardedModel):
    """`user_id` likes `media_id`; on the media's shard."""

    media_id = models.BigIntegerField()
    user_id = models.BigIntegerField()
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "media_like"
        constraints = [models.UniqueConstraint(fields=["media_id", "user_id"], name="media_like_once")]
        indexes = [models.Index(fields=["media_id", "-id"], name="media_like_recent")]


class LikedMedia(ShardedModel):
    """The liker's half of a like, on the liker's shard: `/v1/users/self/media/liked`."""

    user_id = models.BigIntegerField()
    media_id = models.BigIntegerField()
    owner_id = models.BigIntegerField()
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "liked_media"
        constraints = [models.UniqueConstraint(fields=["user_id", "media_id"], name="liked_media_once")]
        indexes = [models.Index(fields=["user_id", "-id"], name="liked_media_recent")]


class Comment(ShardedModel):
    """A comment on `media_id`, on the media's shard."""

    media_id = models.BigIntegerField()
    user_id = models.BigIntegerField()
    text = models.TextField()
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "media_comment"
        indexes = [models.Index(fields=["media_id", "-id"], name="media_comment_recent")]


class TagMedia(ShardedModel):
    """`media_id` carries tag `tag`; on the tag's logical shard (photos.tags.tag_shard)."""

    tag = models.CharField(max_length=100)
    media_id = models.BigIntegerField()
    owner_id = models.BigIntegerField()

    class Meta:
        db_table = "tag_media"
        constraints = [models.UniqueConstraint(fields=["tag", "media_id"], name="tag_media_once")]
        indexes = [models.Index(fields=["tag", "-media_id"], name="tag_media_recent")]


class LocationMedia(ShardedModel):
    """`media_id` was taken at location `location_id`; on the location's logical shard."""

    location_id = models.BigIntegerField()
    media_id = models.BigIntegerField()
    owner_id = models.BigIntegerField()

    class Meta:
        db_table = "location_media"
        constraints = [
            models.UniqueConstraint(fields=["location_id", "media_id"], name="location_media_once"),
        ]
        indexes = [models.Index(fields=["location_id", "-media_id"], name="location_media_recent")]


class Tag(models.Model):
    """A hashtag and how many media carry it (main database); searched by prefix."""

    name = models.CharField(max_length=100, primary_key=True)
    media_count = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "photos_tag"
        # Names are stored normalized (casefolded), so a prefix search is a plain LIKE 'q%' range scan.
        indexes = [
            models.Index(fields=["name"], name="photos_tag_name_prefix", opclasses=["text_pattern_ops"]),
        ]

    def __str__(self) -> str:
        return f"#{self.name}"


FOURSQUARE_ID = RegexValidator(r"\A[0-9]{1,20}\Z", "A foursquare (v1) venue id is a number.")
FOURSQUARE_V2_ID = RegexValidator(r"\A[0-9a-f]{24}\Z", "A foursquare v2 venue id is 24 hexadecimal digits.")
FACEBOOK_PLACES_ID = RegexValidator(r"\A[0-9]{1,20}\Z", "A Facebook Places id is a number.")
# The other services' ids a location can carry, in the order v1 documented them.
EXTERNAL_IDS = {
    "foursquare_v2_id": FOURSQUARE_V2_ID,
    "foursquare_id": FOURSQUARE_ID,
    "facebook_places_id": FACEBOOK_PLACES_ID,
}


class Location(models.Model):
    """A named place photos are taken at (main database); its point is in the geo index too.

    The external ids name the same place in foursquare (v1 and v2 venue ids)
    and Facebook Places, so a client that knows the place from there finds
    it with /v1/locations/search. Each names at most one location; NULL, not
    "", for "none", so the unique constraints skip places without one.
    """

    id = models.BigAutoField(primary_key=True)
    name = models.CharField(max_length=200)
    latitude = models.FloatField()
    longitude = models.FloatField()
    foursquare_id = models.CharField(  # noqa: DJ001
        max_length=20, null=True, blank=True, validators=[FOURSQUARE_ID], verbose_name="foursquare (v1) id"
    )
    foursquare_v2_id = models.CharField(  # noqa: DJ001
        max_length=24, null=True, blank=True, validators=[FOURSQUARE_V2_ID], verbose_name="foursquare v2 id"
    )
    facebook_places_id = models.CharField(  # noqa: DJ001
        max_length=20,
        null=True,
        blank=True,
        validators=[FACEBOOK_PLACES_ID],
        verbose_name="Facebook Places id",
    )
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "photos_location"
        constraints = [
            models.UniqueConstraint(
                fields=[column],
                condition=models.Q(**{f"{column}__isnull": False}),
                name=f"photos_location_{column}",
            )
            for column in EXTERNAL_IDS
        ]

    def __str__(self) -> str:
        return self.name
