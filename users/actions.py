"""Writes to accounts: sign-up, log-in (a token), log-out (revocation), and the lifecycle.

The lifecycle (docs/accounts.md): password change and reset, e-mail change,
deletion. A new password ends every other way in: the user's other tokens
and grants are deleted here, and Django's sessions (the admin, the OAuth
authorize page) stop at their next request, as each keeps a hash of the
password it was opened with.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application, Grant, IDToken, RefreshToken

from instagram.errors import APIInvalidParametersError, APINotFoundError
from monitoring import stats
from oauth.tokens import v1_access_token
from photos.imaging import ImageRejected, Rendition, process_profile_picture
from photos.storage import delete_objects, new_profile_picture_key, purge_cdn, put_object
from ratelimits.credentials import check_credential_attempt, credential_failed, credential_succeeded
from users.cache import forget_profiles_on_commit
from users.jobs import AccountDelete, PasswordResetMail
from users.models import AccountDeletion, User
from workers.submit import submit_job_on_commit

logger = logging.getLogger(__name__)


def check_sign_up(*, username: str, password: str, email: str = "", full_name: str = "") -> User:
    """Validate a sign-up and create the account; raise APIInvalidParametersError naming the problem."""
    user = User(username=username, email=email, full_name=full_name)
    try:
        user.full_clean(exclude=["password"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise APIInvalidParametersError(f"{field}: {messages[0]}") from None
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise APIInvalidParametersError(f"password: {exc.messages[0]}") from None
    return do_sign_up(user=user, password=password)


def do_sign_up(*, user: User, password: str) -> User:
    """Store a validated new account; a taken username (any case, even in a race) is a clear 400."""
    user.set_password(password)
    try:
        with transaction.atomic(using="default"):
            user.save(using="default")
            stats.count_on_commit(stats.SIGNUPS, using="default")
    except IntegrityError:
        raise APIInvalidParametersError(f"username: {user.username} is taken.") from None
    return user


EDITABLE = ("full_name", "bio", "website", "is_private")


def check_edit_profile(*, user: User, changes: dict[str, str]) -> User:
    """Validate profile changes (full_name, bio, website, is_private) and store them."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise APIInvalidParametersError(f"{unknown[0]} cannot be edited; editable: {', '.join(EDITABLE)}.")
    if not changes:
        raise APIInvalidParametersError(f"Nothing to change; editable: {', '.join(EDITABLE)}.")
    for name, sent in changes.items():
        # As sent, before trimming: a client must not depend on the trim to fit.
        limit = getattr(User._meta.get_field(name), "max_length", None)
        if limit is not None and len(sent) > limit:
            raise APIInvalidParametersError(f"{name}: at most {limit} characters (got {len(sent)}).")
    fields: dict[str, str | bool] = {name: value.strip() for name, value in changes.items()}
    if "is_private" in fields:
        flag = str(fields["is_private"]).lower()
        if flag not in {"true", "false", "1", "0"}:
            raise APIInvalidParametersError("is_private must be true or false.")
        fields["is_private"] = flag in {"true", "1"}
    for name, value in fields.items():
        setattr(user, name, value)
    try:
        user.full_clean(exclude=[f.name for f in User._meta.fields if f.name not in fields])
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise APIInvalidParametersError(f"{field}: {messages[0]}") from None
    return do_edit_profile(user=user, fields=list(fields))


def do_edit_profile(*, user: User, fields: list[str]) -> User:
    with transaction.atomic(using="default"):
        user.save(using="default", update_fields=fields)
        forget_profiles_on_commit(user.id)
    return user


def check_set_profile_picture(*, user: User, photo: bytes | None) -> User:
    """Validate an uploaded profile picture as a photo upload is validated, then make it the account's."""
    if photo is None:
        raise APIInvalidParametersError("Missing required file: photo (send multipart/form-data).")
    try:
        rendition = process_profile_picture(photo)
    except ImageRejected as exc:
        raise APIInvalidParametersError(str(exc)) from None
    return do_set_profile_picture(user=user, rendition=rendition)


def do_set_profile_picture(*, user: User, rendition: Rendition | None) -> User:
    """Store the new picture (None: remove it), point the account at it, then drop the old one's object.

    The object is written before the row, under a key never used before, so
    the row never names a missing object; a failure before the commit
    deletes it again. The old object goes after the commit, and the CDN's
    copy with it. The profile cache moves on at the commit, so every app
    server answers with the new URL from the next request on.
    """
    key = ""
    if rendition is not None:
        key = new_profile_picture_key()
        put_object(key=key, data=rendition.data, content_type=rendition.content_type)
    try:
        with transaction.atomic(using="default"):
            # The row lock orders racing changes; a deleted account takes no new picture.
            old = (
                User.objects.select_for_update(no_key=True)
                .filter(id=user.id, is_active=True)
                .values_list("profile_picture", flat=True)
                .first()
            )
            if old is None:
                raise APINotFoundError(f"No user with id {user.id}.")
            User.objects.filter(id=user.id).update(profile_picture=key)
            forget_profiles_on_commit(user.id)
            if old:
                # robust: the change is committed; a failed delete only leaves an unreachable object.
                transaction.on_commit(lambda: drop_profile_picture(key=old), using="default", robust=True)
    except BaseException:
        if key:
            drop_profile_picture(key=key)
        raise
    user.profile_picture = key
    return user


def drop_profile_picture(*, key: str) -> None:
    """Delete a profile picture's object and the CDN's copy; failures are logged, never raised."""
    try:
        delete_objects([key])
    except Exception:
        logger.exception("could not delete the profile picture %s", key)
    purge_cdn([key])


def check_log_in(*, username: str, password: str) -> User:
    user = authenticate(username=username, password=password)
    if not isinstance(user, User):
        raise APIInvalidParametersError("The username or password is incorrect.")
    return user


def do_issue_token(*, user: User) -> AccessToken:
    """Hand the first-party mobile app a new access token for `user`, with every scope."""
    scope = " ".join(settings.API_SCOPES)
    application = Application.objects.get(client_id=settings.MOBILE_CLIENT_ID)
    expires = timezone.now() + timedelta(seconds=settings.ACCESS_TOKEN_EXPIRE_SECONDS)
    return AccessToken.objects.create(
        user=user,
        application=application,
        token=v1_access_token(user_id=user.id, client_id=application.client_id),
        expires=expires,
        scope=scope,
    )


def do_revoke_token(*, token: AccessToken) -> None:
    token.revoke()


# --------------------------------------------------------------- lifecycle


MAX_PASSWORD = 128


def _check_password(*, user: User, password: str) -> None:
    """Check the account's own password (a change, a deletion), throttled as every log-in is."""
    check_credential_attempt(account=user.username)
    # A longer one was never set here (MAX_PASSWORD): no need to hash megabytes to say so.
    if len(password) > 4 * MAX_PASSWORD or not user.check_password(password):
        credential_failed(account=user.username)
        raise APIInvalidParametersError("password: the password is incorrect.")
    credential_succeeded(account=user.username)


def _check_new_password(*, user: User, new_password: str) -> None:
    if len(new_password) > MAX_PASSWORD:
        raise APIInvalidParametersError(
            f"new_password: at most {MAX_PASSWORD} characters (got {len(new_password)})."
        )
    try:
        validate_password(new_password, user)
    except ValidationError as exc:
        raise APIInvalidParametersError(f"new_password: {exc.messages[0]}") from None


def check_change_password(*, user: User, keep: AccessToken, password: str, new_password: str) -> None:
    """Validate the old and the new password, then change it; every token but `keep` dies."""
    _check_password(user=user, password=password)
    _check_new_password(user=user, new_password=new_password)
    do_set_password(user=user, new_password=new_password, keep_token_id=keep.id)


def do_set_password(*, user: User, new_password: str, keep_token_id: int | None = None) -> None:
    """Store a validated new password and delete the user's tokens and grants (all but `keep_token_id`)."""
    user.set_password(new_password)
    with transaction.atomic(using="default"):
        user.save(using="default", update_fields=["password"])
        do_revoke_access(user_id=user.id, keep_token_id=keep_token_id)


def do_revoke_access(*, user_id: int, keep_token_id: int | None = None) -> None:
    """Delete the user's OAuth tokens, refresh tokens and grants, but the access token `keep_token_id`."""
    refresh = RefreshToken.objects.filter(user_id=user_id)
    access = AccessToken.objects.filter(user_id=user_id)
    if keep_token_id is not None:
        refresh = refresh.exclude(access_token_id=keep_token_id)
        access = access.exclude(id=keep_token_id)
    # Refresh tokens first: they point at their access tokens (and back, source_refresh_token).
    access.update(source_refresh_token=None)
    refresh.delete()
    access.delete()
    IDToken.objects.filter(user_id=user_id).delete()
    Grant.objects.filter(user_id=user_id).delete()


def do_request_password_reset(*, login: str) -> None:
    """Mail a reset token to the active account(s) named by username or e-mail, after commit.

    Says nothing about whether any account matched: the caller answers the
    same either way. The token is made by the worker that sends the mail,
    so it is never stored, not even in the job outbox.
    """
    if len(login) > User._meta.get_field("email").max_length:  # type: ignore[operator]
        return  # names no account
    if "@" in login:
        users = User.objects.filter(email__iexact=login, is_active=True)
    else:
        users = User.objects.filter(username__iexact=login, is_active=True).exclude(email="")
    with transaction.atomic(using="default"):
        for user_id in users.values_list("id", flat=True)[:10]:
            submit_job_on_commit(PasswordResetMail(user_id=user_id))


def check_confirm_password_reset(*, uid: str, token: str, new_password: str) -> None:
    """Check a mailed reset token (single use, expiring) and set the new password; all tokens die."""
    invalid = APIInvalidParametersError("token: the reset token is invalid or has expired.")
    if not uid.isascii() or not uid.isdigit() or len(uid) > 19:
        raise invalid
    user = User.objects.filter(id=int(uid), is_active=True).first()
    # The token hashes the password and the last log-in: a used one no longer checks.
    if user is None or len(token) > 100 or not default_token_generator.check_token(user, token):
        raise invalid
    _check_new_password(user=user, new_password=new_password)
    do_set_password(user=user, new_password=new_password)


def check_change_email(*, user: User, password: str, email: str) -> User:
    """Validate the password and the new address, then store it."""
    _check_password(user=user, password=password)
    limit = User._meta.get_field("email").max_length or 254
    if len(email) > limit:
        raise APIInvalidParametersError(f"email: at most {limit} characters (got {len(email)}).")
    try:
        validate_email(email)
    except ValidationError:
        raise APIInvalidParametersError("email: enter a valid e-mail address.") from None
    user.email = User.objects.normalize_email(email)
    with transaction.atomic(using="default"):
        user.save(using="default", update_fields=["email"])
        forget_profiles_on_commit(user.id)
    return user


def check_delete_account(*, user: User, password: str) -> None:
    """Check the password, then delete the account (do_delete_account)."""
    _check_password(user=user, password=password)
    do_delete_account(user_id=user.id)


def do_delete_account(*, user_id: int) -> bool:
    """Mark the account deleted at once and queue the job that removes everything it left.

    In one transaction: the account is deactivated (no log-in, its tokens
    refused, gone from every read), its password made unusable, its tokens
    deleted, and its durable deletion record written with the job
    (users.deletion carries it on). Returns False when it was already so.
    """
    with transaction.atomic(using="default"):
        user = User.objects.select_for_update().filter(id=user_id).first()
        if user is None or AccountDeletion.objects.filter(user_id=user_id).exists():
            return False
        user.is_active = False
        user.set_unusable_password()
        user.save(using="default", update_fields=["is_active", "password"])
        AccountDeletion.objects.create(user_id=user_id)
        do_revoke_access(user_id=user_id)
        forget_profiles_on_commit(user_id)
        submit_job_on_commit(AccountDelete(user_id=user_id))
    return True
