"""memcached copies of what every authenticated request reads: the token, its user, its app.

One entry per token, `auth.token:<sha256 of the token>`: the AccessToken
with its user, application, ClientPolicy and ClientLimit (select_related),
and the versions of its user and its app (instagram.versioned_cache's
version keys, namespaces `auth.user` and `auth.app`) read before the
database was. A request reads the entry, then both versions (two memcached
round trips instead of a four-table join on the main database); a version
that moved since the entry was filled makes it a miss.

Every change bumps a version once its transaction commits, so the next
request on any app server reads the database again:
- a token created, changed or deleted (revoke, log-out, app deauthorized,
  password change, deletion): its user's version (signals below);
- a user row saved (password, privacy, profile), or changed with
  `.update()` (counters, deactivation, deletion): its version, through
  users.cache.forget_profiles_on_commit, which every such change calls;
- an app, its policy or its limits saved or deleted: the app's version.
forget_credentials_on_commit() is the one function that does it.

No secret goes to memcached: the copy's password hash, raw token and
client secret are deferred fields, read from the database if a view ever
touches them (a password check does).

Cache trouble is a miss (the database answers), and a bump memcached
refuses is retried by a job, as for the profiles.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pylibmc
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from oauth2_provider.models import AccessToken, Application

from instagram.memcached import get_many_made
from instagram.versioned_cache import VersionedCache

logger = logging.getLogger(__name__)

TIMEOUT = 3600  # an unused entry goes; tokens expire on their own (checked on every request)
# Only their versions are used: the entries are keyed by token, not by id.
USERS: VersionedCache[object] = VersionedCache("auth.user", kind=object)
APPS: VersionedCache[object] = VersionedCache("auth.app", kind=object)


def token_key(checksum: str) -> str:
    return f"auth.token:{checksum}"


def _load(checksum: str) -> AccessToken | None:
    tokens = AccessToken.objects.select_related("user", "application__limit", "application__policy")
    # [:1], not first(): no ORDER BY to build and sort on every request.
    return next(iter(tokens.filter(token_checksum=checksum)[:1]), None)


def _versions(user_id: int, application_id: int) -> tuple[object, object]:
    keys = USERS.version_key(user_id), APPS.version_key(application_id)
    found = get_many_made(list(keys))  # one round trip when both exist, as they mostly do
    if all(key in found for key in keys):
        return found[keys[0]], found[keys[1]]
    # _versions creates a missing version (add, so a racing creator wins).
    return USERS._versions([user_id])[user_id], APPS._versions([application_id])[application_id]


@contextmanager
def _without_secrets(token: AccessToken) -> Iterator[None]:
    """Take the secrets out of `token` and its rows while memcached's client pickles them."""
    dropped: list[tuple[Any, str, Any]] = []
    for row, name in [(token, "token"), (token.user, "password"), (token.application, "client_secret")]:
        if row is not None and name in row.__dict__:
            dropped.append((row, name, row.__dict__.pop(name)))
    try:
        yield
    finally:
        for row, name, value in dropped:
            row.__dict__[name] = value


# checksum -> (user id, app id): a token's owner and app never change, so each
# process remembers them and reads the entry and both versions in one round
# trip from a token's second request on. Bounded: cleared when full.
_owners: dict[str, tuple[int, int]] = {}
MAX_OWNERS = 50_000


def access_token(checksum: str) -> AccessToken | None:
    """Return the AccessToken hashing to `checksum` (any state) with its user and app; None if none."""
    key = token_key(checksum)
    try:
        owners = _owners.get(checksum)
        if owners is None:
            entry = cache.get(key)
            if not isinstance(entry, dict):
                return _fill(checksum)
            owners = entry["user_id"], entry["application_id"]
            versions = get_many_made([USERS.version_key(owners[0]), APPS.version_key(owners[1])])
        else:
            versions = get_many_made([key, USERS.version_key(owners[0]), APPS.version_key(owners[1])])
            entry = versions.get(key)
            if not isinstance(entry, dict) or (entry["user_id"], entry["application_id"]) != owners:
                return _fill(checksum)
        current = versions.get(USERS.version_key(owners[0])), versions.get(APPS.version_key(owners[1]))
        if current != (entry["user_version"], entry["application_version"]):
            return _fill(checksum)
        token = entry["token"]
        if not isinstance(token, AccessToken):
            return _fill(checksum)
    except pylibmc.Error as exc:  # memcached trouble is a miss, never an outage
        logger.warning("token cache unavailable: %s", exc)
        return _load(checksum)
    if len(_owners) >= MAX_OWNERS:
        _owners.clear()
    _owners[checksum] = owners
    return token


def _fill(checksum: str) -> AccessToken | None:
    """Read the token from the database and cache it under the versions read before the row.

    The row names the user and app whose versions count, so it is read
    twice: once to learn them, then after reading their versions. A change
    that commits before the second read is in the copy; one that commits
    after it bumps a version past the copy's. A miss costs two queries,
    which happens once per token and change.
    """
    first = _load(checksum)
    if first is None or first.user_id is None:
        return first
    try:
        user_version, app_version = _versions(first.user_id, first.application_id)
    except pylibmc.Error as exc:
        logger.warning("token cache unavailable: %s", exc)
        return first
    token = _load(checksum)
    if token is None or (token.user_id, token.application_id) != (first.user_id, first.application_id):
        return token
    entry = {
        "token": token,
        "user_id": token.user_id,
        "application_id": token.application_id,
        "user_version": user_version,
        "application_version": app_version,
    }
    try:
        with _without_secrets(token):
            cache.set(token_key(checksum), entry, TIMEOUT)
    except pylibmc.Error as exc:
        logger.warning("token cache unavailable: %s", exc)
    return token


def forget_credentials_on_commit(
    *, user_ids: tuple[int, ...] = (), application_ids: tuple[int, ...] = (), using: str = "default"
) -> None:
    """Make every cached token of these users and apps a miss once the transaction on `using` commits."""
    if user_ids:
        USERS.forget_on_commit(*user_ids, using=using)
    if application_ids:
        APPS.forget_on_commit(*application_ids, using=using)


def _token_changed(sender: type, instance: AccessToken, **kwargs: Any) -> None:
    if instance.user_id is not None:
        forget_credentials_on_commit(user_ids=(instance.user_id,), using=kwargs.get("using") or "default")


def _user_saved(sender: type, instance: Any, **kwargs: Any) -> None:
    forget_credentials_on_commit(user_ids=(instance.id,), using=kwargs.get("using") or "default")


def _app_changed(sender: type, instance: Any, **kwargs: Any) -> None:
    app_id = instance.id if isinstance(instance, Application) else instance.application_id
    forget_credentials_on_commit(application_ids=(app_id,), using=kwargs.get("using") or "default")


def connect_signals() -> None:
    """Called once from OAuthConfig.ready()."""
    from django.contrib.auth import get_user_model

    from oauth.models import ClientPolicy
    from ratelimits.models import ClientLimit

    for name, signal in (("save", post_save), ("delete", post_delete)):
        signal.connect(_token_changed, sender=AccessToken, dispatch_uid=f"auth-cache-token-{name}")
        for model in (Application, ClientPolicy, ClientLimit):
            signal.connect(_app_changed, sender=model, dispatch_uid=f"auth-cache-{model.__name__}-{name}")
    post_save.connect(_user_saved, sender=get_user_model(), dispatch_uid="auth-cache-user")
