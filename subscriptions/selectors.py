"""Reads of subscriptions: an app's own, the v1 subscription object, and which ones a new media matches."""

import math
from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from instagram.errors import APINotFoundError
from instagram.parameters import is_digits
from photos.geo import MAX_DISTANCE_M
from photos.models import Media
from sharding.routing import shard_for_id
from subscriptions.models import Subscription, SubscriptionObject
from users.models import User

# Redis GEO's Earth radius (photos.geo): a media found by /v1/media/search within
# a subscription's radius is also one its geography subscription hears about.
EARTH_RADIUS_M = 6372797.560856
# Latitude degrees per meter along a meridian: the band a geography's circle fits in.
DEGREES_PER_M = 180 / (math.pi * EARTH_RADIUS_M)


def client_subscriptions(*, application: Application) -> list[Subscription]:
    """Return `application`'s subscriptions, oldest first."""
    return list(Subscription.objects.filter(application=application).order_by("id"))


def access_geography(*, application: Application, geo_ref: str) -> Subscription:
    """Return `application`'s geography subscription `geo_ref` (its object_id), or raise APINotFoundError.

    A geography is its app's own, as in v1: another app's id is not found.
    """
    found = None
    if is_digits(geo_ref) and int(geo_ref) < 2**63:
        found = Subscription.objects.filter(
            id=int(geo_ref), application=application, object=SubscriptionObject.GEOGRAPHY
        ).first()
    if found is None:
        raise APINotFoundError(f"No geography with id {geo_ref[:40]} for this app.")
    return found


def object_id_of(subscription: Subscription) -> str | None:
    """Return the subscription's v1 object_id: none for user, its own id for a geography."""
    if subscription.object == SubscriptionObject.USER:
        return None
    if subscription.object == SubscriptionObject.GEOGRAPHY:
        return str(subscription.id)
    return subscription.object_id


def subscription_object(subscription: Subscription) -> dict[str, Any]:
    """Return the subscription as v1 described it (ids as strings)."""
    return {
        "object": subscription.object,
        "object_id": object_id_of(subscription),
        "aspect": subscription.aspect,
        "callback_url": subscription.callback_url,
        "type": "subscription",
        "id": str(subscription.id),
    }


@dataclass(frozen=True)
class PostedMedia:
    """What matching needs of a media: who posted it, when, with which tags, where."""

    id: int
    user_id: int
    created_at_s: int
    tags: tuple[str, ...]
    location_id: int | None
    latitude: float | None
    longitude: float | None


def posted_media(*, media_id: int) -> PostedMedia | None:
    """Return the media `media_id` as it is now, read on its shard's primary; None when it is gone.

    The primary, not a standby: the job runs right after the upload commits,
    before a standby may have replayed it.
    """
    with shard_for_id(media_id):
        media = Media.objects.filter(id=media_id).first()
    if media is None:
        return None
    return PostedMedia(
        id=media.id,
        user_id=media.user_id,
        created_at_s=int(media.created_at.timestamp()),
        tags=tuple(media.tags),
        location_id=media.location_id,
        latitude=media.latitude,
        longitude=media.longitude,
    )


def owner_is_private(*, user_id: int) -> bool | None:
    """Return whether the account is private, from the main database (never a cache); None if it is gone."""
    found = User.objects.filter(id=user_id, is_active=True).values_list("is_private", flat=True).first()
    return None if found is None else bool(found)


def matching_subscriptions(*, media: PostedMedia, private: bool) -> list[Subscription]:
    """Return the subscriptions that hear about `media`, by id; one query.

    user: apps the owner holds a live token for. tag: any of its tags.
    location: its location. geography: circles its point is in (a latitude
    band in SQL, the exact distance here). A private account's media go only
    to user subscriptions, that is to apps its owner authorised.
    """
    authorised = AccessToken.objects.filter(user_id=media.user_id, expires__gt=timezone.now())
    wanted = Q(object=SubscriptionObject.USER, application__in=authorised.values("application_id"))
    if not private:
        if media.tags:
            wanted |= Q(object=SubscriptionObject.TAG, object_id__in=media.tags)
        if media.location_id is not None:
            wanted |= Q(object=SubscriptionObject.LOCATION, object_id=str(media.location_id))
        if media.latitude is not None and media.longitude is not None:
            band = MAX_DISTANCE_M * DEGREES_PER_M
            wanted |= Q(
                object=SubscriptionObject.GEOGRAPHY,
                latitude__gte=media.latitude - band,
                latitude__lte=media.latitude + band,
            )
    found = Subscription.objects.filter(wanted).order_by("id")
    return [s for s in found if s.object != SubscriptionObject.GEOGRAPHY or _in_circle(s, media)]


def _in_circle(subscription: Subscription, media: PostedMedia) -> bool:
    lat, lng, radius = subscription.latitude, subscription.longitude, subscription.radius
    if lat is None or lng is None or radius is None or media.latitude is None or media.longitude is None:
        return False
    return distance_m(lat, lng, media.latitude, media.longitude) <= radius


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Return the great-circle distance between two points in meters (haversine, as Redis GEO)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lng2 - lng1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def live_subscriptions(*, ids: set[int]) -> dict[int, Subscription]:
    """Return the subscriptions among `ids` that still exist, by id."""
    return {s.id: s for s in Subscription.objects.filter(id__in=ids)}
