"""Which subscriptions hear about a new media, and the update each gets (no network: matching only)."""

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from oauth2_provider.models import AccessToken

from instagram.crypto import decrypt
from photos.models import Location
from subscriptions.actions import SubscriptionRequest, do_create_subscription, update_object
from subscriptions.models import Subscription, SubscriptionObject
from subscriptions.selectors import PostedMedia, distance_m, matching_subscriptions
from tests.subscriptions.conftest import App, new_tag
from tests.v1 import Account

CALLBACK = "https://realtime.example.com/hook"
PIER = (37.8080, -122.4177)


def subscribe(app: App, kind: SubscriptionObject, **fields: Any) -> Subscription:
    """Store a subscription through the action the endpoint calls after its handshake."""
    request = SubscriptionRequest(
        object=kind,
        object_id=str(fields.pop("object_id", "")),
        callback_url=fields.pop("callback_url", CALLBACK),
        verify_token="",
        **fields,
    )
    return do_create_subscription(application=app.application, client_secret=app.secret, request=request)


def media(owner: int, **fields: Any) -> PostedMedia:
    values: dict[str, Any] = {
        "id": 1_000_000 + owner,
        "user_id": owner,
        "created_at_s": 1_300_000_000,
        "tags": (),
        "location_id": None,
        "latitude": None,
        "longitude": None,
        **fields,
    }
    return PostedMedia(**values)


def ids(found: list[Subscription]) -> set[int]:
    return {s.id for s in found}


def test_tag_location_and_geography_subscriptions_match_what_the_media_carries(
    register_app: Callable[[], App],
) -> None:
    app = register_app()
    tag, other_tag = new_tag(), new_tag()
    place = Location.objects.create(name=f"Pier {uuid.uuid4().hex[:6]}", latitude=PIER[0], longitude=PIER[1])
    by_tag = subscribe(app, SubscriptionObject.TAG, object_id=tag)
    subscribe(app, SubscriptionObject.TAG, object_id=other_tag)
    by_place = subscribe(app, SubscriptionObject.LOCATION, object_id=place.id)
    # 300 m north of the pier: inside a 500 m circle, outside a 200 m one.
    north = (PIER[0] + 300 / 111_195, PIER[1])
    near = subscribe(app, SubscriptionObject.GEOGRAPHY, latitude=north[0], longitude=north[1], radius=500)
    subscribe(app, SubscriptionObject.GEOGRAPHY, latitude=north[0], longitude=north[1], radius=200)
    posted = media(
        owner=11, tags=(tag, "unrelated"), location_id=place.id, latitude=PIER[0], longitude=PIER[1]
    )
    assert 295 < distance_m(*north, *PIER) < 305
    mine = [
        s
        for s in matching_subscriptions(media=posted, private=False)
        if s.application_id == app.application.id
    ]
    assert ids(mine) == {by_tag.id, by_place.id, near.id}


def test_a_private_accounts_media_reach_only_user_subscriptions_of_apps_it_authorised(
    register_app: Callable[[], App], signup: Callable[..., Account]
) -> None:
    authorised, stranger = register_app(), register_app()
    owner = signup("rt_owner", private=True)
    owner.with_token(scope="basic", application=authorised.application)
    tag = new_tag()
    user_sub = subscribe(authorised, SubscriptionObject.USER)
    subscribe(authorised, SubscriptionObject.TAG, object_id=tag)
    subscribe(stranger, SubscriptionObject.USER)
    subscribe(stranger, SubscriptionObject.TAG, object_id=tag)
    posted = media(owner=int(owner.id), tags=(tag,), latitude=PIER[0], longitude=PIER[1])
    apps = {authorised.application.id, stranger.application.id}

    private = [s for s in matching_subscriptions(media=posted, private=True) if s.application_id in apps]
    assert ids(private) == {user_sub.id}
    public = [s for s in matching_subscriptions(media=posted, private=False) if s.application_id in apps]
    assert len(public) == 3  # both tag subscriptions and the authorised app's user subscription


def test_an_expired_token_is_no_authorisation(
    register_app: Callable[[], App], signup: Callable[..., Account]
) -> None:
    app = register_app()
    owner = signup("rt_owner")
    owner.with_token(scope="basic", application=app.application)
    subscription = subscribe(app, SubscriptionObject.USER)
    posted = media(owner=int(owner.id))
    assert subscription.id in ids(matching_subscriptions(media=posted, private=False))
    AccessToken.objects.filter(user_id=int(owner.id), application=app.application).update(
        expires=timezone.now() - timedelta(seconds=1)
    )
    assert subscription.id not in ids(matching_subscriptions(media=posted, private=False))


def test_each_update_names_its_subscription_object_and_media(register_app: Callable[[], App]) -> None:
    app = register_app()
    tag = new_tag()
    by_tag = subscribe(app, SubscriptionObject.TAG, object_id=tag)
    by_user = subscribe(app, SubscriptionObject.USER)
    circle = subscribe(app, SubscriptionObject.GEOGRAPHY, latitude=PIER[0], longitude=PIER[1], radius=100)
    posted = media(owner=42, tags=(tag,))
    assert update_object(subscription=by_tag, media=posted) == {
        "subscription_id": str(by_tag.id),
        "object": "tag",
        "object_id": tag,
        "changed_aspect": "media",
        "time": 1_300_000_000,
        "data": {"media_id": f"{posted.id}_42"},
    }
    assert update_object(subscription=by_user, media=posted)["object_id"] == "42"
    assert update_object(subscription=circle, media=posted)["object_id"] == str(circle.id)


def test_subscribing_twice_is_one_subscription_and_the_newest_secret_signs_for_all(
    register_app: Callable[[], App],
) -> None:
    app = register_app()
    tag = new_tag()
    first = subscribe(app, SubscriptionObject.TAG, object_id=tag)
    circle = subscribe(app, SubscriptionObject.GEOGRAPHY, latitude=1.5, longitude=2.5, radius=10)
    assert subscribe(app, SubscriptionObject.TAG, object_id=tag).id == first.id
    assert (
        subscribe(app, SubscriptionObject.GEOGRAPHY, latitude=1.5, longitude=2.5, radius=10).id == circle.id
    )
    assert subscribe(app, SubscriptionObject.TAG, object_id=tag, callback_url=CALLBACK + "/2").id != first.id
    assert Subscription.objects.filter(application=app.application).count() == 3
    # A secret presented later (a rotated one) becomes the one every subscription of the app signs with.
    request = SubscriptionRequest(
        object=SubscriptionObject.USER, object_id="", callback_url=CALLBACK, verify_token=""
    )
    do_create_subscription(application=app.application, client_secret="rotated", request=request)
    stored = Subscription.objects.filter(application=app.application)
    assert {decrypt(s.client_secret) for s in stored} == {"rotated"}


@pytest.mark.parametrize("kind", [SubscriptionObject.TAG, SubscriptionObject.LOCATION])
def test_nothing_matches_a_media_without_tags_or_place(
    kind: SubscriptionObject, register_app: Callable[[], App]
) -> None:
    app = register_app()
    subscribe(app, kind, object_id=new_tag() if kind == SubscriptionObject.TAG else 1)
    mine = [
        s
        for s in matching_subscriptions(media=media(owner=5), private=False)
        if s.application_id == app.application.id
    ]
    assert mine == []
