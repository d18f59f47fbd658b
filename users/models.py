from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """An Instagram account, stored in the main (unsharded) database.

    A custom user model from the first migration on, so the accounts work can
    add profile fields and counters without swapping AUTH_USER_MODEL later.
    """

    class Meta:
        db_table = "users_user"
