"""Writes of real-time subscriptions: subscribe (after the callback's handshake), unsubscribe,
queue a new media's updates, deliver a batch of them.

Delivery policy: a deliver job that cannot POST its batch (no connection,
a timeout, an answer other than 2xx) raises, and the worker retries it with
exponential backoff (JOB_RETRY_SECONDS, doubling) up to DELIVERY_ATTEMPTS
attempts in all. After the last one it gives up: the job is parked as a dead
letter (workers.models.DeadJob, `manage.py dead_jobs`) and its batch stays
in Redis for subscriptions.queue.BATCH_TTL, so an operator's replay sends
those very updates; after that they are dropped. A callback the SSRF policy
refuses, or a secret no key decrypts, is parked at once: retrying cannot help.
"""

import json
import logging
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from oauth2_provider.models import Application

from instagram.crypto import DecryptionError, decrypt, encrypt
from instagram.errors import APIInvalidParametersError
from instagram.parameters import is_digits, required
from photos import geo
from photos.models import Location
from photos.refs import media_ref
from photos.text import normalize_tag
from subscriptions import queue
from subscriptions.callbacks import (
    MAX_VERIFY_TOKEN,
    CallbackError,
    CallbackRefused,
    parse_callback_url,
    post_updates,
    verify_callback,
)
from subscriptions.errors import APISubscriptionError
from subscriptions.jobs import SubscriptionDeliver
from subscriptions.models import Subscription, SubscriptionObject
from subscriptions.selectors import PostedMedia, live_subscriptions, object_id_of
from workers.jobs import PermanentJobError
from workers.submit import submit_job_on_commit

logger = logging.getLogger(__name__)

# Attempts of one deliver job, the first included: with the 2 s base delay,
# retries after about 2, 4, 8, 16 and 32 s (plus jitter), a minute in all.
DELIVERY_ATTEMPTS = 6
ASPECT = "media"
OBJECTS = ", ".join(SubscriptionObject.values)


@dataclass(frozen=True)
class SubscriptionRequest:
    """A validated subscribe request: what to watch and where to call."""

    object: SubscriptionObject
    object_id: str
    callback_url: str
    verify_token: str
    latitude: float | None = None
    longitude: float | None = None
    radius: int | None = None


def check_create_subscription(
    *, application: Application, client_secret: str, values: dict[str, str]
) -> Subscription:
    """Validate a subscribe request, run the callback's hub.challenge handshake, then subscribe.

    Raise APIInvalidParametersError for a bad parameter, APISubscriptionError
    when the callback cannot be verified; nothing is stored then.
    """
    request = subscription_request(values)
    try:
        verify_callback(url=request.callback_url, verify_token=request.verify_token)
    except CallbackError as exc:
        raise APISubscriptionError(str(exc)) from None
    return do_create_subscription(application=application, client_secret=client_secret, request=request)


def subscription_request(values: dict[str, str]) -> SubscriptionRequest:
    """Return the subscribe request in `values`, or raise APIInvalidParametersError naming the problem."""
    raw_object, aspect, callback_url = required(values, "object", "aspect", "callback_url")
    if raw_object not in SubscriptionObject.values:
        raise APIInvalidParametersError(f"object must be one of {OBJECTS}.")
    if aspect != ASPECT:
        raise APIInvalidParametersError("aspect must be media, the one aspect there is.")
    try:
        parse_callback_url(callback_url)
    except ValueError as exc:
        raise APIInvalidParametersError(str(exc)) from None
    verify_token = values.get("verify_token", "")
    if len(verify_token) > MAX_VERIFY_TOKEN:
        raise APIInvalidParametersError(f"verify_token must be at most {MAX_VERIFY_TOKEN} characters.")
    kind = SubscriptionObject(raw_object)
    object_id = ""
    circle: tuple[float | None, float | None, int | None] = (None, None, None)
    if kind == SubscriptionObject.TAG:
        object_id = _tag(values)
    elif kind == SubscriptionObject.LOCATION:
        object_id = _location(values)
    elif kind == SubscriptionObject.GEOGRAPHY:
        circle = _circle(values)
    latitude, longitude, radius = circle
    return SubscriptionRequest(
        object=kind,
        object_id=object_id,
        callback_url=callback_url,
        verify_token=verify_token,
        latitude=latitude,
        longitude=longitude,
        radius=radius,
    )


def _tag(values: dict[str, str]) -> str:
    (name,) = required(values, "object_id")
    try:
        return normalize_tag(name)
    except ValueError as exc:
        raise APIInvalidParametersError(f"object_id: {exc}") from None


def _location(values: dict[str, str]) -> str:
    (raw,) = required(values, "object_id")
    if not is_digits(raw) or int(raw) >= 2**63 or not Location.objects.filter(id=int(raw)).exists():
        raise APIInvalidParametersError(f"object_id: no location with id {raw[:40]}.")
    return str(int(raw))


def _circle(values: dict[str, str]) -> tuple[float, float, int]:
    """lat and lng (required), radius in meters (default 1 km, at most 5 km, as v1)."""
    latitude, longitude = geo.point_param(values)
    raw = values.get("radius", "").strip() or str(geo.DEFAULT_DISTANCE_M)
    if not is_digits(raw) or not 1 <= int(raw) <= geo.MAX_DISTANCE_M:
        raise APIInvalidParametersError(f"radius must be an integer from 1 to {geo.MAX_DISTANCE_M} (meters).")
    return latitude, longitude, int(raw)


def do_create_subscription(
    *, application: Application, client_secret: str, request: SubscriptionRequest
) -> Subscription:
    """Store the subscription, or return the same one stored before (POST is idempotent).

    The secret the app just presented (and proved) becomes the one every
    subscription of the app signs with, so a rotated secret takes effect for
    all of them.
    """
    secret = encrypt(client_secret)
    same = {
        "application": application,
        "object": request.object,
        "aspect": ASPECT,
        "callback_url": request.callback_url,
    }
    if request.object == SubscriptionObject.GEOGRAPHY:
        same |= {"latitude": request.latitude, "longitude": request.longitude, "radius": request.radius}
    else:
        same |= {"object_id": request.object_id}
    with transaction.atomic(using="default"):
        Subscription.objects.filter(application=application).update(client_secret=secret)
        try:
            with transaction.atomic(using="default"):
                return Subscription.objects.create(**same, client_secret=secret)
        except IntegrityError:
            return Subscription.objects.get(**same)


def do_delete_subscriptions(*, application: Application, values: dict[str, str]) -> int:
    """Delete the app's subscription `id`, or its subscriptions of `object` (or all); return how many.

    Updates already queued for them are not sent (delivery skips deleted subscriptions).
    """
    raw_id, raw_object = values.get("id", "").strip(), values.get("object", "").strip()
    mine = Subscription.objects.filter(application=application)
    if raw_id:
        if not is_digits(raw_id) or int(raw_id) >= 2**63:
            raise APIInvalidParametersError("id must be a subscription id.")
        doomed = mine.filter(id=int(raw_id))
    elif raw_object == "all":
        doomed = mine
    elif raw_object in SubscriptionObject.values:
        doomed = mine.filter(object=raw_object)
    else:
        raise APIInvalidParametersError(f"Send id=<subscription id>, or object=all or one of {OBJECTS}.")
    with transaction.atomic(using="default"):
        deleted, _ = doomed.delete()
    return deleted


# ------------------------------------------------------------------ updates


def update_object(*, subscription: Subscription, media: PostedMedia) -> dict[str, Any]:
    """Return the update v1 POSTed for `media` to `subscription`'s callback."""
    object_id = object_id_of(subscription)
    return {
        "subscription_id": str(subscription.id),
        "object": subscription.object,
        # A user update names the user who posted.
        "object_id": str(media.user_id) if object_id is None else object_id,
        "changed_aspect": ASPECT,
        "time": media.created_at_s,
        "data": {"media_id": media_ref(media_id=media.id, user_id=media.user_id)},
    }


def do_queue_media_updates(*, media: PostedMedia, subscriptions: list[Subscription]) -> list[str]:
    """Queue one update per subscription on its callback's pending list, once per media; nudge the callbacks.

    Return the callback keys nudged. A deliver job is submitted for each even
    when a rerun finds the updates queued already: the first run may have died
    before submitting it, and a deliver job with nothing to do is cheap.
    """
    updates: dict[str, list[str]] = {}
    for subscription in subscriptions:
        key = queue.callback_key(
            application_id=subscription.application_id, callback_url=subscription.callback_url
        )
        updates.setdefault(key, []).append(json.dumps(update_object(subscription=subscription, media=media)))
    queue.enqueue_once(media_id=media.id, updates=updates)
    for key in updates:
        submit_job_on_commit(SubscriptionDeliver(callback=key))
    return list(updates)


def do_deliver_updates(*, callback: str, job_id: str, last_attempt: bool) -> int:
    """POST job `job_id`'s batch of `callback`'s updates, signed; return how many were sent.

    Raise CallbackError when the callback fails (the job is retried, see the
    module's docstring), PermanentJobError when retrying cannot help.
    """
    batch = [json.loads(item) for item in queue.take_batch(callback=callback, job_id=job_id)]
    if not batch:
        return 0
    live = live_subscriptions(ids={int(update["subscription_id"]) for update in batch})
    updates = [update for update in batch if int(update["subscription_id"]) in live]
    if not updates:
        queue.finish_batch(job_id=job_id)
        return 0
    # Every subscription of the batch has this app and this URL (the callback key), and the same secret.
    subscription = max(live.values(), key=lambda s: s.id)
    try:
        secret = decrypt(subscription.client_secret)
    except DecryptionError as exc:
        raise PermanentJobError(f"subscription {subscription.id}'s secret: {exc}") from exc
    body = json.dumps(updates, separators=(",", ":")).encode()
    try:
        post_updates(url=subscription.callback_url, secret=secret, body=body)
    except CallbackRefused as exc:
        raise PermanentJobError(str(exc)) from exc
    except CallbackError:
        if last_attempt:
            logger.warning(
                "giving up on %d updates for %s after %d attempts: kept with job %s for a replay",
                len(updates),
                subscription.callback_url,
                DELIVERY_ATTEMPTS,
                job_id,
            )
        raise
    queue.finish_batch(job_id=job_id)
    if queue.pending_count(callback=callback):
        submit_job_on_commit(SubscriptionDeliver(callback=callback))
    return len(updates)
