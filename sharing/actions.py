"""Writes of sharing: linking accounts, and posting a photo to them (the SHARE job).

Sharing runs on a worker, after the upload committed, one job per share
target; the upload never waits for Twitter or Facebook. Each job's outcome
is written on the media (`Media.share_results[service]`):

- `{"status": "shared", "id": <the tweet's or photo's id>, "at", "attempts"}`;
- `{"status": "retrying", "error", "at", "attempts"}` after a failure worth
  retrying (5xx, timeout); the runner runs the job again with backoff;
- `{"status": "failed", "error", "at", "attempts"}`: the service refused the
  post (4xx, e.g. a revoked token), the account is not linked, or the last
  attempt failed too;
- `{"status": "posting", "job", "at", "attempts"}` while the HTTP call runs.

Run twice, a job posts once. Before the HTTP call the job claims the
service's entry on the media (row lock, check, commit "posting"); a second
job finding "shared" or a live claim does nothing. The claim also closes the
window between the HTTP call succeeding and the outcome being committed: a
worker killed inside it leaves "posting", and whoever finds that claim from
the same job, or older than CLAIM_SECONDS, records a failure ("interrupted")
and does not post again. We chose at most once: a photo posted twice on
someone's timeline is worse than a share reported as failed, which the
owner can redo. A read timeout is the exception: the request may have
reached the service, and it is retried as a transient failure.
"""

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from instagram.crypto import DecryptionError, encrypt
from instagram.errors import APIInvalidParametersError
from photos.cache import forget_cards_on_commit
from photos.models import Media
from photos.selectors import permalink
from photos.storage import cdn_url, rendition_key
from sharding.ids import InvalidIdError
from sharding.routing import shard_for_id
from sharing.clients import (
    Post,
    ShareError,
    ShareRejected,
    post_facebook_photo,
    post_tweet,
)
from sharing.models import LinkedAccount, Service
from users.models import User
from workers.jobs import JobContext, PermanentJobError

logger = logging.getLogger(__name__)

MAX_TOKEN = 2048  # characters; Facebook's long-lived tokens run to a few hundred
MAX_REMOTE_ID = 64
MAX_REMOTE_NAME = 100
CLAIM_SECONDS = 120  # far longer than one attempt's HTTP timeouts (sharing.clients.TIMEOUT)

SHARED, RETRYING, FAILED, POSTING = "shared", "retrying", "failed", "posting"
INTERRUPTED = "interrupted while posting; it may have been posted"


# ----------------------------------------------------------- linked accounts


def service_param(raw: str) -> str:
    """Return the service `raw` names, or raise naming the ones there are."""
    if raw not in Service.values:
        raise APIInvalidParametersError(f"service must be one of {', '.join(Service.values)}.")
    return raw


def check_link_account(*, user: User, service: str, values: dict[str, str]) -> LinkedAccount:
    """Validate the fields of a link (access_token; access_token_secret for Twitter), then link."""
    service = service_param(service)
    token = values.get("access_token", "").strip()
    secret = values.get("access_token_secret", "").strip()
    if not token:
        raise APIInvalidParametersError("Missing required parameter: access_token.")
    if service == Service.TWITTER and not secret:
        raise APIInvalidParametersError(
            "Missing required parameter: access_token_secret (twitter needs one)."
        )
    if service != Service.TWITTER and secret:
        raise APIInvalidParametersError(f"access_token_secret is for twitter only, not {service}.")
    for name, limit in (
        ("access_token", MAX_TOKEN),
        ("access_token_secret", MAX_TOKEN),
        ("account_id", MAX_REMOTE_ID),
        ("account_name", MAX_REMOTE_NAME),
    ):
        if len(values.get(name, "")) > limit:
            raise APIInvalidParametersError(f"{name} is longer than {limit} characters.")
    return do_link_account(
        user=user,
        service=service,
        token=token,
        token_secret=secret,
        remote_id=values.get("account_id", "").strip(),
        remote_name=values.get("account_name", "").strip(),
    )


def do_link_account(
    *, user: User, service: str, token: str, token_secret: str, remote_id: str, remote_name: str
) -> LinkedAccount:
    """Link `user`'s account on `service`, replacing the one linked before; the tokens stored encrypted."""
    account, _ = LinkedAccount.objects.update_or_create(
        user=user,
        service=service,
        defaults={
            "encrypted_token": encrypt(token),
            "encrypted_token_secret": encrypt(token_secret) if token_secret else "",
            "remote_id": remote_id,
            "remote_name": remote_name,
        },
    )
    logger.info("user %s linked a %s account", user.id, service)
    return account


def do_unlink_account(*, user: User, service: str) -> None:
    """Forget `user`'s account on `service` (nothing to do when none is linked)."""
    deleted, _ = LinkedAccount.objects.filter(user=user, service=service).delete()
    if deleted:
        logger.info("user %s unlinked their %s account", user.id, service)


# ------------------------------------------------------------------ sharing


def do_share_media(*, media_id: int, service: str, job: JobContext) -> None:
    """Post media `media_id` to its owner's account on `service`, once; record the outcome on the media.

    Returns quietly when the media is gone, already shared there, or its
    owner did not ask for `service` (media.share_targets). Raises
    ShareError after recording a failure worth retrying (the runner retries,
    then parks the job), PermanentJobError when the stored token cannot be
    decrypted (an operator's problem).
    """
    if service not in Service.values:
        raise PermanentJobError(f"no such share service: {service!r}")
    media = _media(media_id)
    if media is None or _status(media, service) == SHARED:
        return
    if service not in media.share_targets:
        logger.warning("media %s: not shared to %s, which its owner did not ask for", media_id, service)
        return
    account = LinkedAccount.objects.filter(user_id=media.user_id, service=service).first()
    if account is None:
        _record(media_id, service, _outcome(FAILED, job, error=f"no {service} account linked"))
        return
    try:
        token, secret = account.access_token(), account.token_secret()
    except DecryptionError:
        _record(media_id, service, _outcome(FAILED, job, error="the stored token cannot be decrypted"))
        raise PermanentJobError(f"the {service} token of user {media.user_id} cannot be decrypted") from None
    post = Post(
        caption=media.caption,
        link=permalink(media.id),
        image_url=cdn_url(rendition_key(media.object_prefix, "standard_resolution")),
    )
    if not _claim(media_id, service, job):
        return
    try:
        if service == Service.TWITTER:
            remote_id = post_tweet(post=post, token=token, token_secret=secret)
        else:
            remote_id = post_facebook_photo(post=post, token=token)
    except ShareRejected as exc:
        _record(media_id, service, _outcome(FAILED, job, error=str(exc)))
        logger.info("media %s: %s refused the share: %s", media_id, service, exc)
        return
    except Exception as exc:
        # Transient (ShareUnavailable), or a bug before the request left: release the claim.
        status = FAILED if job.last_attempt else RETRYING
        error = str(exc) if isinstance(exc, ShareError) else f"internal error: {type(exc).__name__}"
        _record(media_id, service, _outcome(status, job, error=error))
        raise
    _record(media_id, service, _outcome(SHARED, job, id=remote_id))
    logger.info("media %s shared to %s as %s (attempt %d)", media_id, service, remote_id, job.attempt)


def _media(media_id: int) -> Media | None:
    """Read the media on its shard's primary: the share results must be the latest."""
    try:
        with shard_for_id(media_id):
            return Media.objects.filter(id=media_id).first()
    except InvalidIdError:
        raise PermanentJobError(f"{media_id} cannot be a media id") from None


def _status(media: Media, service: str) -> str | None:
    entry = media.share_results.get(service)
    return entry.get("status") if isinstance(entry, dict) else None


def _outcome(status: str, ctx: JobContext, **details: Any) -> dict[str, Any]:
    return {"status": status, **details, "at": datetime.now(tz=UTC).isoformat(), "attempts": ctx.attempt}


def _claim(media_id: int, service: str, job: JobContext) -> bool:
    """Mark `service`'s share of the media as being posted by `job`; say whether this job may post.

    Locks the media row (FOR NO KEY UPDATE) in a short transaction of its
    own on the media's shard, committed before the HTTP call.
    """
    with shard_for_id(media_id) as shard:
        media = Media.objects.select_for_update(no_key=True).filter(id=media_id).first()
        if media is None:
            return False
        entry = media.share_results.get(service) or {}
        if entry.get("status") == SHARED:
            return False
        if entry.get("status") == POSTING:
            since = datetime.fromisoformat(str(entry.get("at")))
            stale = datetime.now(tz=UTC) - since > timedelta(seconds=CLAIM_SECONDS)
            if entry.get("job") == job.job_id or stale:
                # Its worker died between posting and recording: it may be posted already.
                interrupted = _outcome(FAILED, job, error=INTERRUPTED)
                _write(media, service, interrupted, alias=shard.alias)
                logger.warning(
                    "media %s: an earlier %s share was interrupted; not posting again", media_id, service
                )
            return False  # or another worker is posting it right now
        _write(media, service, _outcome(POSTING, job, job=job.job_id), alias=shard.alias)
        return True


def _record(media_id: int, service: str, outcome: dict[str, Any]) -> None:
    """Write `outcome` as `service`'s share result on the media, unless it was shared already."""
    with shard_for_id(media_id) as shard:
        media = Media.objects.select_for_update(no_key=True).filter(id=media_id).first()
        if media is None or _status(media, service) == SHARED:
            return
        _write(media, service, outcome, alias=shard.alias)


def _write(media: Media, service: str, outcome: dict[str, Any], *, alias: str) -> None:
    results = {**media.share_results, service: outcome}
    Media.objects.filter(id=media.id).update(share_results=results)
    # Cards do not show share results yet; one reload per share keeps them right when they do.
    forget_cards_on_commit(media.id, using=alias)
