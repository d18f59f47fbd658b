"""Job handlers of the account lifecycle: password-reset mail, account deletion."""

import logging

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail

from users.deletion import do_continue_deletion
from users.jobs import AccountDelete, PasswordResetMail
from users.models import User
from workers.jobs import JobContext, job_handler

logger = logging.getLogger(__name__)

RESET_MAIL = """Someone (we hope you) asked to reset the password of your Instagram account {username}.

To choose a new password, open the Instagram app and enter this code, or send it to
POST {base}/v1/accounts/password/reset/confirm with a new_password:

uid: {uid}
token: {token}

The code works once, for {hours} hour(s). If you did not ask for it, ignore this mail:
your password stays as it is.
"""


@job_handler(PasswordResetMail)
def password_reset_mail(job: PasswordResetMail, ctx: JobContext) -> None:
    """Mail the account a fresh reset token; nothing when it is gone, inactive or has no address.

    A retry after a failed send mails another token; each works until the
    password changes or it expires.
    """
    user = User.objects.filter(id=job.user_id, is_active=True).exclude(email="").first()
    if user is None:
        return
    body = RESET_MAIL.format(
        username=user.username,
        base=settings.PUBLIC_BASE_URL.rstrip("/"),
        uid=user.id,
        token=default_token_generator.make_token(user),
        hours=max(1, settings.PASSWORD_RESET_TIMEOUT // 3600),
    )
    send_mail("Reset your Instagram password", body, None, [user.email])


@job_handler(AccountDelete)
def account_delete(job: AccountDelete, ctx: JobContext) -> None:
    """Carry the account's deletion on from its record to the end (users.deletion)."""
    reached = do_continue_deletion(user_id=job.user_id)
    logger.info("account %s deletion: %s", job.user_id, reached)
