"""Linked Twitter and Facebook accounts (main database).

The tokens are stored encrypted (instagram.crypto: Fernet under
FIELD_ENCRYPTION_KEYS), so a database dump or a replica's disk does not
hand out the right to post as our users; only the workers that share
decrypt them, just before the call.
"""

from django.conf import settings
from django.db import models

from instagram.crypto import decrypt


class Service(models.TextChoices):
    TWITTER = "twitter", "Twitter"
    FACEBOOK = "facebook", "Facebook"


class LinkedAccount(models.Model):
    """`user`'s account on `service`, with the OAuth token to post as it; one per user and service.

    Twitter uses OAuth 1.0a: a token and a token secret. Facebook uses an
    OAuth 2 access token (no secret: `encrypted_token_secret` is "").
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    service = models.CharField(max_length=16, choices=Service.choices)
    remote_id = models.CharField(max_length=64, blank=True, default="")
    remote_name = models.CharField(max_length=100, blank=True, default="")
    encrypted_token = models.TextField()
    encrypted_token_secret = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "sharing_linked_account"
        constraints = [
            models.UniqueConstraint(fields=["user", "service"], name="sharing_linked_account_once"),
        ]

    def __str__(self) -> str:
        return f"{self.get_service_display()} account of user {self.user_id}"

    def access_token(self) -> str:
        return decrypt(self.encrypted_token)

    def token_secret(self) -> str:
        return decrypt(self.encrypted_token_secret) if self.encrypted_token_secret else ""
