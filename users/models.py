from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.indexes import OpClass
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower

# Instagram's rules: 1 to 30 letters, digits, periods and underscores.
USERNAME_RE = r"^[A-Za-z0-9._]{1,30}$"


class User(AbstractUser):
    """An Instagram account, stored in the main (unsharded) database.

    Usernames are unique whatever their case. The counts are denormalized and
    changed only by `users.actions`, with F() updates, so concurrent follows
    and posts never lose an increment.
    """

    username = models.CharField(
        max_length=30,
        unique=True,
        error_messages={"unique": "That username is taken."},
        validators=[
            RegexValidator(
                USERNAME_RE,
                "Usernames have 1 to 30 characters: letters, numbers, periods and underscores.",
            )
        ],
    )
    full_name = models.CharField(max_length=100, blank=True, default="")
    bio = models.CharField(max_length=150, blank=True, default="")
    website = models.URLField(max_length=200, blank=True, default="")
    # The key of its picture in the media bucket (users.actions.do_set_profile_picture), "" for none:
    # the API serves it as a CDN URL, or the default picture's (users.selectors.profile_picture_url).
    profile_picture = models.CharField(max_length=300, blank=True, default="")
    is_private = models.BooleanField(default=False)
    media_count = models.PositiveIntegerField(default=0)
    follows_count = models.PositiveIntegerField(default=0)
    followed_by_count = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "users_user"
        constraints = [models.UniqueConstraint(Lower("username"), name="users_username_ci_unique")]
        # users/search: prefix matches on the lower-cased names (LIKE 'q%' needs pattern ops).
        indexes = [
            models.Index(OpClass(Lower("username"), name="text_pattern_ops"), name="users_username_prefix"),
            models.Index(OpClass(Lower("full_name"), name="text_pattern_ops"), name="users_full_name_prefix"),
        ]


# `username__lower__startswith` in selectors.
models.CharField.register_lookup(Lower)


class DeletionStep(models.TextChoices):
    """The steps of an account deletion, in the order the job takes them (users.deletion)."""

    ACCESS = "access"  # tokens, grants, devices, linked accounts, push settings
    MEDIA = "media"  # its media, with their likes, comments, S3 objects, CDN copies, indexes
    INTERACTIONS = "interactions"  # its likes and comments on others' media, shard by shard
    RELATIONSHIPS = "relationships"  # follow, request and block edges, both halves
    REDIS = "redis"  # its feed and news lists
    ACCOUNT = "account"  # the account row, anonymized
    DONE = "done"


class AccountDeletion(models.Model):
    """The durable record of one account's deletion: which step it is at, and where in that step.

    Written when the user asks (the account is deactivated in the same
    transaction); the `account_delete` job moves it on, committing after
    each unit of work, so a worker killed mid-job resumes where the record
    says. `cursor` is the next logical shard of the INTERACTIONS step;
    `media` lists every media the job deleted (id, S3 prefix, tags,
    location) so the verify command can prove their traces are gone.
    """

    user_id = models.BigIntegerField(primary_key=True)
    step = models.CharField(max_length=16, choices=DeletionStep.choices, default=DeletionStep.ACCESS)
    cursor = models.IntegerField(default=0)
    media = models.JSONField(default=list)
    requested_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "users_account_deletion"

    def __str__(self) -> str:
        return f"deletion of user {self.user_id} at {self.step}"
