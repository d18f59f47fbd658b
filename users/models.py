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
    profile_picture = models.URLField(max_length=300, blank=True, default="")
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
