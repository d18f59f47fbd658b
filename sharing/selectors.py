"""Reads of linked accounts, and the object the API shows of one (never its tokens)."""

from typing import Any

from photos.selectors import epoch
from sharing.models import LinkedAccount


def linked_accounts(*, user_id: int) -> list[LinkedAccount]:
    """Return `user_id`'s linked accounts, by service name."""
    return list(LinkedAccount.objects.filter(user_id=user_id).order_by("service"))


def linked_account(*, user_id: int, service: str) -> LinkedAccount | None:
    return LinkedAccount.objects.filter(user_id=user_id, service=service).first()


def linked_account_object(account: LinkedAccount) -> dict[str, Any]:
    """Return the v1-style object of a linked account: which one, and since when; no token."""
    return {
        "service": account.service,
        "id": account.remote_id or None,
        "username": account.remote_name or None,
        "created_time": epoch(account.created_at),
        "updated_time": epoch(account.updated_at),
    }
