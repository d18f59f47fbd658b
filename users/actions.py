"""Writes to accounts: sign-up, log-in (a token), log-out (revocation)."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application
from oauthlib.common import generate_token

from instagram.api import APIInvalidParametersError
from monitoring import stats
from users.cache import forget_profiles_on_commit
from users.models import User


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
        user=user, application=application, token=generate_token(), expires=expires, scope=scope
    )


def do_revoke_token(*, token: AccessToken) -> None:
    token.revoke()
