"""Users' reports of a photo, a comment or an account, for the operators to act on (main database).

A report names its target by kind and ids, not by foreign key: media and
comments live on the shards, and a report outlives the content it reports
(it is resolved when the content is removed, and kept as the record of why).
"""

from django.conf import settings
from django.db import models
from django.db.models.functions import Now


class Kind(models.TextChoices):
    MEDIA = "media", "photo"
    COMMENT = "comment", "comment"
    USER = "user", "account"


class Reason(models.TextChoices):
    SPAM = "spam", "spam"
    NUDITY = "nudity", "nudity or sexual activity"
    HARASSMENT = "harassment", "harassment or bullying"
    HATE = "hate", "hate speech or symbols"
    VIOLENCE = "violence", "violence or dangerous acts"
    SELF_HARM = "self_harm", "self-harm"
    INTELLECTUAL_PROPERTY = "intellectual_property", "intellectual property violation"
    IMPERSONATION = "impersonation", "impersonation"
    OTHER = "other", "something else"


class Resolution(models.TextChoices):
    DISMISSED = "dismissed", "dismissed"
    REMOVED = "removed", "content removed"
    DEACTIVATED = "deactivated", "account deactivated"


class Report(models.Model):
    """`reporter` reports one photo, comment or account of `target_user` (the owner or author)."""

    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # "media:<id>", "comment:<id>", "user:<id>": one report per reporter and target.
    target = models.CharField(max_length=64)
    target_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    media_id = models.BigIntegerField(null=True, blank=True)
    media_owner_id = models.BigIntegerField(
        null=True, blank=True
    )  # a comment's photo's owner: the admin's link
    comment_id = models.BigIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=32, choices=Reason.choices)
    text = models.CharField(max_length=1000, blank=True, default="")
    created_at = models.DateTimeField(db_default=Now())
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolution = models.CharField(max_length=16, choices=Resolution.choices, blank=True, default="")

    class Meta:
        db_table = "reports_report"
        constraints = [models.UniqueConstraint(fields=["reporter", "target"], name="report_once")]
        # The admin's default list: open reports, oldest first.
        indexes = [models.Index(fields=["resolved_at", "created_at"], name="reports_open_oldest")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.target} ({self.reason})"
