"""The payloads of the account jobs (users.handlers)."""

from dataclasses import dataclass

from workers import functions
from workers.jobs import JobPayload


@dataclass(frozen=True, kw_only=True)
class AccountDelete(JobPayload):
    """Carry `user_id`'s deletion on from its record (users.deletion), resumable."""

    function = functions.ACCOUNT_DELETE

    user_id: int


@dataclass(frozen=True, kw_only=True)
class PasswordResetMail(JobPayload):
    """Mail `user_id` a password-reset token (made by the worker, never stored)."""

    function = functions.PASSWORD_RESET_MAIL

    user_id: int
