"""Encryption at rest for secrets the system must read back (OAuth tokens of
linked Twitter/Facebook accounts, the client secret a subscription signs with).

Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`, under keys derived
from FIELD_ENCRYPTION_KEYS: the first key encrypts, every key decrypts, so a
key is rotated by putting the new one first and re-saving the rows.
"""

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class DecryptionError(ValueError):
    """A stored value that none of the configured keys can read."""


@cache
def _fernet() -> MultiFernet:
    keys = [
        Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))
        for secret in settings.FIELD_ENCRYPTION_KEYS
    ]
    return MultiFernet(keys)


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode("ascii")


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode("ascii")).decode()
    except InvalidToken as exc:
        raise DecryptionError("no configured key decrypts this value") from exc
