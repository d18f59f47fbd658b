"""Workers' side of push notifications: one event's alert to every phone of its recipient.

A PUSH job carries ids: `{recipient_id, kind, actor_id, media_id?,
comment_text?, comment_id?}` (a mention's comment_id says it was made in a
comment, not a caption). The handler re-reads what it needs and returns quietly
when a push is not to be sent: the recipient or the actor is gone, they are
the same user, either blocks the other, the recipient's setting for the
kind says no ("off", or "following" and they do not follow the actor), the
follow or request was undone, or the media is gone or not the recipient's
to see (a mention on a private account's photo).

Once per notification: a job names the event it tells of (`event`: the news
entry's id, e.g. `comment:<id>`, `like:<like id>`), and the notification's
key is the event and the recipient (`notification_key`). A retried like or
comment job submits a second PUSH job for the same event; both share the
key, so the phone hears of it once. Jobs without an event (older payloads)
are keyed by their own job id.

Delivery and retries: every active device gets the push (aioapns over one
HTTP/2 connection, push.apns). A device Apple says is gone (410, or a
token it refuses) is deactivated with Apple's reason. When Apple could not
take a push now (no connection, 429, 5xx, a refused provider token), the
job fails once every device was tried, and the runner retries it with
backoff. A sender first claims the notification (SET NX with a TTL,
rediskeys.push_claim): a second job for it meanwhile is retried later
instead of sending alongside. The devices that got it are marked in Redis
(rediskeys.push_sent) before the claim is released, whether the send went
through or failed for a retry, so a later attempt pushes only to the
others: at most one push per device per notification, unless a worker dies
between Apple's 200 and the mark. A push
Apple refuses for good (a bad topic, a payload too large) parks the job as
a dead letter at once: a bug or a misconfiguration for an operator to see.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from instagram import rediskeys
from instagram.errors import APIError
from instagram.redis_client import redis_primary
from photos.refs import media_ref
from photos.selectors import access_media
from push import apns
from push.actions import do_deactivate_device
from push.jobs import PushNotification
from push.models import Audience, Device
from push.notifications import (
    FOLLOW,
    FOLLOW_REQUEST,
    KINDS,
    MEDIA_KINDS,
    SETTING_OF_KIND,
    alert_text,
    audience_allows,
    payload,
)
from push.selectors import active_devices, push_settings_of
from relationships.models import Kind
from relationships.selectors import relationship_state
from users.cache import profile
from users.models import User
from workers.jobs import JobContext, PermanentJobError, job_handler

logger = logging.getLogger(__name__)

SENT_MARK_SECONDS = 24 * 3600  # longer than every retry's backoff, and a same-day replay of a dead letter
# Longer than one send (push.apns's timeouts), short enough that a claim a dead worker left
# only delays the retry of that notification.
CLAIM_SECONDS = 120
APNS_ID_NAMESPACE = uuid.UUID("2f1c9a52-3b0e-4d6c-9a57-7b1f0c2d1e11")
# The edge the recipient holds while the event still stands, for the kinds that have one.
STANDING_EDGE = {FOLLOW: Kind.FOLLOWED_BY, FOLLOW_REQUEST: Kind.REQUESTED_BY}


class PushNotDelivered(Exception):
    """Apple could not take the push for some devices now; the job is retried for them."""


@dataclass(frozen=True)
class PushRequest:
    recipient_id: int
    kind: str
    actor_id: int
    media_ref: str | None
    comment_text: str | None
    in_comment: bool  # the job names a comment_id: a mention made in a comment, not a caption
    event: str | None  # the event's stable id (a news entry's id), None in older payloads


def _id(value: int, name: str) -> int:
    if value > 0:
        return value
    raise PermanentJobError(f"push job: {name} must be a user id, not {value!r:.40}")


def push_request(job: PushNotification) -> PushRequest:
    """Check a PUSH job's payload; PermanentJobError when it is malformed (a bug in the submitter).

    The types are the codec's (workers.jobs); what is left is what a push means.
    """
    if job.kind not in KINDS:
        raise PermanentJobError(f"push job: unknown kind {job.kind!r:.40}")
    if job.kind in MEDIA_KINDS and job.media_id is None:
        raise PermanentJobError(f"push job: a {job.kind} push names its media_id")
    if job.event is not None and not 0 < len(job.event) <= 100:
        raise PermanentJobError("push job: event must be an event id")
    return PushRequest(
        recipient_id=_id(job.recipient_id, "recipient_id"),
        kind=job.kind,
        actor_id=_id(job.actor_id, "actor_id"),
        media_ref=None if job.media_id is None else str(job.media_id),
        comment_text=job.comment_text,
        in_comment=job.comment_id is not None,
        event=job.event,
    )


def notification_key(request: PushRequest, *, job_id: str) -> str:
    """Return the key every attempt and every duplicate job of one notification share."""
    if request.event is None:
        return f"job:{job_id}"
    return f"{request.kind}:{request.event}:{request.recipient_id}"


def notification_for(request: PushRequest) -> dict[str, Any] | None:
    """Return the APNS payload `request` calls for, or None when the recipient is not to get one."""
    if request.recipient_id == request.actor_id:
        return None
    recipient = User.objects.filter(id=request.recipient_id, is_active=True).first()
    actor = profile(request.actor_id)
    if recipient is None or actor is None:
        return None
    audience = push_settings_of(user_id=recipient.id)[SETTING_OF_KIND[request.kind]]
    if audience == Audience.OFF:
        return None
    state = relationship_state(viewer_id=recipient.id, other_id=actor.id)
    if state & {Kind.BLOCKS, Kind.BLOCKED_BY}:
        return None
    if not audience_allows(audience=audience, recipient_follows_actor=Kind.FOLLOWS in state):
        return None
    standing = STANDING_EDGE.get(request.kind)
    if standing is not None and standing not in state:
        return None
    ref = None
    if request.media_ref is not None:
        try:
            card = access_media(viewer=recipient, ref=request.media_ref)
        except APIError:
            return None
        ref = media_ref(media_id=card.id, user_id=card.user_id)
    alert = alert_text(
        kind=request.kind,
        username=actor.username,
        comment_text=request.comment_text,
        in_comment=request.in_comment,
    )
    return payload(kind=request.kind, alert=alert, actor_id=actor.id, media_ref=ref)


def apns_id(*, notification: str, device_id: int) -> str:
    """Return the apns-id of a notification's push to a device: the same on every attempt and duplicate."""
    return str(uuid.uuid5(APNS_ID_NAMESPACE, f"{notification}:{device_id}"))


# Deletes the claim only if this sender still holds it (it may have expired and been taken since).
RELEASE_CLAIM = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def deliver(*, notification: str, kind: str, devices: list[Device], body: dict[str, Any]) -> None:
    """Push `body` to each of `devices` `notification` has not reached yet (see the module's docstring)."""
    redis = redis_primary()
    claim, holder = rediskeys.push_claim(notification), uuid.uuid4().hex
    if not redis.set(claim, holder, nx=True, ex=CLAIM_SECONDS):
        raise PushNotDelivered(f"notification {notification} is being sent by another job")
    try:
        results, todo = _send_once(notification=notification, devices=devices, body=body)
    finally:
        redis.eval(RELEASE_CLAIM, 1, claim, holder)
    if not todo:
        logger.info("push %s %s: every device already had it", kind, notification)
        return
    _settle(notification=notification, kind=kind, devices=devices, todo=todo, results=results)


def _send_once(
    *, notification: str, devices: list[Device], body: dict[str, Any]
) -> tuple[list[apns.Result], list[Device]]:
    """Send to the devices not yet reached and mark those Apple took; the caller holds the claim."""
    redis = redis_primary()
    marker = rediskeys.push_sent(notification)
    done = {int(field) for field in redis.hkeys(marker)}
    todo = [device for device in devices if device.id not in done]
    if not todo:
        return [], []
    pushes = [
        apns.Push(token=d.token, apns_id=apns_id(notification=notification, device_id=d.id), payload=body)
        for d in todo
    ]
    try:
        results = apns.client().send(pushes)
    except ImproperlyConfigured as exc:
        raise PermanentJobError(str(exc)) from exc
    delivered = [device.id for device, result in zip(todo, results, strict=True) if result.delivered]
    if delivered:
        with redis.pipeline() as pipe:
            pipe.hset(marker, mapping={str(device_id): 1 for device_id in delivered})
            pipe.expire(marker, SENT_MARK_SECONDS)
            pipe.execute()
    return results, todo


def _settle(
    *, notification: str, kind: str, devices: list[Device], todo: list[Device], results: list[apns.Result]
) -> None:
    """Deactivate the devices Apple says are gone; raise for what is to be retried or parked."""
    delivered = [device.id for device, result in zip(todo, results, strict=True) if result.delivered]
    retry, refused = [], []
    for device, result in zip(todo, results, strict=True):
        if result.delivered:
            continue
        if result.device_gone:
            since = (
                None if result.timestamp is None else datetime.fromtimestamp(result.timestamp / 1000, tz=UTC)
            )
            if do_deactivate_device(
                device_id=device.id, reason=result.reason or str(result.status), invalid_since=since
            ):
                logger.info(
                    "device %s deactivated: APNS answered %s %s", device.id, result.status, result.reason
                )
        elif result.transient:
            retry.append(f"device {device.id}: {result.status or 'no answer'} {result.reason}".rstrip())
        else:
            refused.append(f"device {device.id}: {result.status} {result.reason}")
    logger.info(
        "push %s %s: %d delivered, %d to retry, %d refused, %d devices already had it",
        kind, notification, len(delivered), len(retry), len(refused), len(devices) - len(todo),
    )  # fmt: skip
    if any(result.status in (0, 403) for result in results):
        # The key or the CA may have changed since this process read them.
        apns.reset_client()
    if retry:
        raise PushNotDelivered("; ".join(retry))
    if refused:
        raise PermanentJobError("APNS refused the push: " + "; ".join(refused))


@job_handler(PushNotification)
def push(job: PushNotification, ctx: JobContext) -> None:
    """Push one event (a like, comment, follow, follow request or mention) to its recipient's phones."""
    request = push_request(job)
    # The devices first: one indexed query, and a recipient without a phone needs nothing else read.
    devices = active_devices(user_id=request.recipient_id)
    if not devices:
        return
    body = notification_for(request)
    if body is not None:
        deliver(
            notification=notification_key(request, job_id=ctx.job_id),
            kind=request.kind,
            devices=devices,
            body=body,
        )
