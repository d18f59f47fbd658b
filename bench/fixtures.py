"""Accounts and tokens the benchmarks call the API with, made once through the ORM.

The benchmark client gets its own hourly limits (ratelimits.ClientLimit):
wrk sends more requests in a second than a real client may send in an
hour, and the limit check itself stays in the measured path.
"""

import os
from dataclasses import dataclass
from datetime import timedelta

import django


@dataclass(frozen=True)
class BenchAccounts:
    token: str
    user_id: int
    other_id: int


def bench_accounts() -> BenchAccounts:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "instagram.settings")
    django.setup()
    from django.utils import timezone
    from oauth2_provider.models import AccessToken, Application

    from ratelimits.models import ClientLimit
    from relationships.actions import check_change_relationship
    from users.models import User

    user, _ = User.objects.get_or_create(username="bench_reader", defaults={"full_name": "Bench Reader"})
    other, _ = User.objects.get_or_create(username="bench_author", defaults={"full_name": "Bench Author"})
    app, _ = Application.objects.get_or_create(
        name="benchmarks",
        defaults={
            "client_type": Application.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": Application.GRANT_PASSWORD,
        },
    )
    ClientLimit.objects.update_or_create(
        application=app, defaults={"requests_per_hour": 10**9, "writes_per_hour": 10**9}
    )
    check_change_relationship(actor=user, target_id=other.id, target_is_private=False, action="follow")
    token = AccessToken.objects.filter(user=user, application=app, expires__gt=timezone.now()).first()
    if token is None:
        token = AccessToken.objects.create(
            user=user,
            application=app,
            token=f"bench-{os.urandom(16).hex()}",
            expires=timezone.now() + timedelta(days=30),
            scope="basic",
        )
    return BenchAccounts(token=token.token, user_id=user.id, other_id=other.id)
