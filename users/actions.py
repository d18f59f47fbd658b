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
    except IntegrityError:
        raise APIInvalidParametersError(f"username: {user.username} is taken.") from None
    return user


def check_log_in(*, username: str, password: str) -> User:
    user = authenticate(username=username, password=password)
    if not isinstance(user, User):
        raise APIInvalidParametersError("The username or password is incorrect.")
    return user


def do_issue_token(*, user: User) -> AccessToken:
    """Hand the first-party mobile app a new access token for `user`, with every scope."""
    scope = " ".join(settings.OAUTH2_PROVIDER["SCOPES"])
    application = Application.objects.get(client_id=settings.MOBILE_CLIENT_ID)
    expires = timezone.now() + timedelta(seconds=settings.ACCESS_TOKEN_EXPIRE_SECONDS)
    return AccessToken.objects.create(
        user=user, application=application, token=generate_token(), expires=expires, scope=scope
    )


def do_revoke_token(*, token: AccessToken) -> None:
    token.revoke()
