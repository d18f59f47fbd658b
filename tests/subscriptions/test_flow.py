"""Real-time subscriptions end to end: the API through nginx, the handshake, photos posted through the API,
the match and deliver jobs on the stack's workers, and a callback served by the test process.
"""

import time
from collections.abc import Callable

from instagram import rediskeys
from instagram.crypto import decrypt
from instagram.redis_client import redis_primary
from photos.models import Location
from subscriptions.actions import DELIVERY_ATTEMPTS
from subscriptions.callbacks import sign
from subscriptions.models import Subscription
from subscriptions.queue import callback_key
from tests.conftest import wait_for
from tests.photos.images import jpeg
from tests.subscriptions.conftest import App, CallbackServer, Delivery, new_tag
from tests.v1 import Account, error
from workers import functions
from workers.actions import do_replay_dead_job
from workers.models import DeadJob

Signup = Callable[..., Account]


def test_subscribing_runs_the_handshake_and_stores_the_secret_encrypted(
    register_app: Callable[[], App], callback: CallbackServer
) -> None:
    app = register_app()
    tag = new_tag()
    data = app.subscribed(
        object="tag", object_id=tag.upper(), callback_url=callback.url(), verify_token="vt-1"
    )
    assert data == {
        "object": "tag",
        "object_id": tag,
        "aspect": "media",
        "callback_url": callback.url(),
        "type": "subscription",
        "id": data["id"],
    }
    (handshake,) = callback.challenges
    assert (handshake["hub.mode"], handshake["hub.verify_token"]) == ("subscribe", "vt-1")
    stored = Subscription.objects.get(id=int(data["id"]))
    assert app.secret not in stored.client_secret
    assert decrypt(stored.client_secret) == app.secret

    # The same subscription again is the same one; the list shows it once.
    assert app.subscribed(object="tag", object_id=tag, callback_url=callback.url())["id"] == data["id"]
    circle = app.subscribed(
        object="geography", lat="37.808", lng="-122.4177", radius="800", callback_url=callback.url()
    )
    assert circle["object_id"] == circle["id"]
    user = app.subscribed(object="user", callback_url=callback.url())
    assert user["object_id"] is None
    assert app.list() == [data, circle, user]


def test_a_callback_that_does_not_echo_the_challenge_is_refused_and_nothing_is_stored(
    register_app: Callable[[], App], callback: CallbackServer
) -> None:
    app = register_app()
    callback.echo = lambda challenge: "not " + challenge
    refused = app.subscribe(object="tag", object_id=new_tag(), callback_url=callback.url())
    assert error(refused) == (400, "APISubscriptionError")
    assert "hub.challenge" in refused.json()["meta"]["error_message"]
    assert len(callback.challenges) == 1
    assert not Subscription.objects.filter(application=app.application).exists()


def test_an_unreachable_callback_is_a_quick_400(
    register_app: Callable[[], App], callback: CallbackServer
) -> None:
    app = register_app()
    closed = callback.url().replace(str(callback.port), "1")  # nothing listens on port 1
    started = time.monotonic()
    refused = app.subscribe(object="user", callback_url=closed)
    assert error(refused) == (400, "APISubscriptionError")
    assert time.monotonic() - started < 3
    assert not Subscription.objects.filter(application=app.application).exists()


def test_bad_credentials_and_parameters_are_named_400s(
    register_app: Callable[[], App], callback: CallbackServer
) -> None:
    app = register_app()
    wrong = app.http.get(
        f"{app.base}/v1/subscriptions",
        params={"client_id": app.application.client_id, "client_secret": "not-it"},
        timeout=15,
    )
    assert error(wrong) == (400, "OAuthClientException")
    missing = app.http.get(
        f"{app.base}/v1/subscriptions", params={"client_id": app.application.client_id}, timeout=15
    )
    assert error(missing) == (400, "OAuthParameterException")
    url = callback.url()
    cases: list[tuple[dict[str, str], str]] = [
        ({"object": "media", "callback_url": url}, "object must be one of user, tag, location, geography"),
        ({"object": "tag", "callback_url": url}, "Missing required parameter: object_id"),
        ({"object": "tag", "object_id": "2011", "callback_url": url}, "object_id: A tag name"),
        ({"object": "location", "object_id": "999999999999", "callback_url": url}, "no location with id"),
        ({"object": "geography", "lat": "91", "lng": "0", "callback_url": url}, "latitude must be between"),
        (
            {"object": "geography", "lat": "1", "lng": "2", "radius": "5001", "callback_url": url},
            "radius must be",
        ),
        ({"object": "user", "callback_url": "ftp://example.com/"}, "http or https"),
        ({"object": "user", "callback_url": url, "aspect": "likes"}, "aspect must be media"),
        ({"object": "user"}, "Missing required parameter: callback_url"),
    ]
    for fields, message in cases:
        response = app.subscribe(**fields)
        assert error(response) == (400, "APIInvalidParametersError"), fields
        assert message in response.json()["meta"]["error_message"], (fields, response.text)
    assert callback.challenges == []  # nothing invalid reached the handshake


def test_unsubscribing_by_id_by_object_and_all(
    register_app: Callable[[], App], callback: CallbackServer
) -> None:
    app, other = register_app(), register_app()
    tags = [app.subscribed(object="tag", object_id=new_tag(), callback_url=callback.url()) for _ in range(3)]
    user = app.subscribed(object="user", callback_url=callback.url())
    theirs = other.subscribed(object="user", callback_url=callback.url())

    assert app.unsubscribe(id=tags[0]["id"]).status_code == 200
    assert app.unsubscribe(id=theirs["id"]).status_code == 200  # not the app's: nothing happens
    assert app.list() == [tags[1], tags[2], user]
    assert app.unsubscribe(object="tag").json() == {"meta": {"code": 200}, "data": None}
    assert app.list() == [user]
    assert app.unsubscribe(object="all").status_code == 200
    assert app.list() == []
    assert other.list() == [theirs]
    assert error(app.unsubscribe()) == (400, "APIInvalidParametersError")
    assert error(app.unsubscribe(object="likes")) == (400, "APIInvalidParametersError")


def deliveries_to(callback: CallbackServer, path: str) -> list[Delivery]:
    return [d for d in callback.delivered() if d.path == path]


def test_a_tagged_photo_reaches_the_callback_signed(
    register_app: Callable[[], App], callback: CallbackServer, signup: Signup
) -> None:
    app, owner = register_app(), signup("rt")
    tag = new_tag()
    subscription = app.subscribed(object="tag", object_id=tag, callback_url=callback.url())
    media = owner.post_photo(jpeg(200, 200), caption=f"Golden hour #{tag}")

    (delivery,) = wait_for(lambda: callback.delivered() or None)
    assert delivery.content_type == "application/json"
    assert delivery.signature == sign(secret=app.secret, body=delivery.body)
    assert delivery.updates == [
        {
            "subscription_id": subscription["id"],
            "object": "tag",
            "object_id": tag,
            "changed_aspect": "media",
            "time": int(media["created_time"]),
            "data": {"media_id": media["id"]},
        }
    ]


def test_matching_subscriptions_of_one_app_on_one_callback_arrive_in_one_post(
    register_app: Callable[[], App], callback: CallbackServer, signup: Signup
) -> None:
    app, owner = register_app(), signup("rt")
    owner.with_token(scope="basic", application=app.application)  # the owner authorised the app
    tag = new_tag()
    place = Location.objects.create(name=f"Pier {tag}", latitude=37.808, longitude=-122.4177)
    subscriptions = [
        app.subscribed(object="tag", object_id=tag, callback_url=callback.url()),
        app.subscribed(object="user", callback_url=callback.url()),
        app.subscribed(object="location", object_id=str(place.id), callback_url=callback.url()),
        app.subscribed(
            object="geography", lat="37.8081", lng="-122.4177", radius="50", callback_url=callback.url()
        ),
    ]
    media = owner.post_photo(jpeg(200, 200), caption=f"#{tag}", location_id=str(place.id))
    assert media["location"]["id"] == str(place.id), media["location"]

    (delivery,) = wait_for(lambda: callback.delivered() or None)
    time.sleep(0.5)
    assert len(callback.all_posts()) == 1
    assert delivery.signature == sign(secret=app.secret, body=delivery.body)
    got = {u["subscription_id"]: (u["object"], u["object_id"]) for u in delivery.updates}
    assert got == {
        subscriptions[0]["id"]: ("tag", tag),
        subscriptions[1]["id"]: ("user", owner.id),
        subscriptions[2]["id"]: ("location", str(place.id)),
        subscriptions[3]["id"]: ("geography", subscriptions[3]["id"]),
    }
    assert {u["data"]["media_id"] for u in delivery.updates} == {media["id"]}


def test_a_callback_failing_twice_gets_the_batch_exactly_once_on_retry(
    register_app: Callable[[], App], callback: CallbackServer, signup: Signup
) -> None:
    app, owner = register_app(), signup("rt")
    tag = new_tag()
    app.subscribed(object="tag", object_id=tag, callback_url=callback.url())
    callback.statuses = [500, 503]
    owner.post_photo(jpeg(200, 200), caption=f"#{tag}")

    (delivered,) = wait_for(lambda: callback.delivered() or None, timeout=30)
    time.sleep(1.5)  # longer than a further retry would take
    posts = callback.all_posts()
    assert [p.status for p in posts] == [500, 503, 200]
    assert {p.body for p in posts} == {delivered.body}
    assert len(delivered.updates) == 1


def test_a_callback_failing_always_is_given_up_after_the_limit_and_replayable(
    register_app: Callable[[], App], callback: CallbackServer, signup: Signup
) -> None:
    app, owner = register_app(), signup("rt")
    tag = new_tag()
    app.subscribed(object="tag", object_id=tag, callback_url=callback.url())
    callback.statuses = [500] * 100
    owner.post_photo(jpeg(200, 200), caption=f"#{tag}")

    key = callback_key(application_id=app.application.id, callback_url=callback.url())

    def parked() -> DeadJob | None:
        return DeadJob.objects.filter(function=functions.SUBSCRIPTION_DELIVER, args__callback=key).first()

    dead = wait_for(parked, timeout=60, interval=0.2)
    time.sleep(1.5)
    posts = callback.all_posts()
    assert len(posts) == DELIVERY_ATTEMPTS == dead.attempts
    assert len({p.body for p in posts}) == 1
    # Given up: parked with its batch kept, so an operator's replay sends those very updates.
    assert redis_primary().exists(rediskeys.subscription_batch(dead.job_id))
    callback.statuses = []
    do_replay_dead_job(dead_job=dead)
    (delivered,) = wait_for(lambda: callback.delivered() or None)
    assert delivered.body == posts[0].body
    wait_for(lambda: not redis_primary().exists(rediskeys.subscription_batch(dead.job_id)))


def test_private_media_reach_only_user_subscriptions_of_authorised_apps(
    register_app: Callable[[], App], callback: CallbackServer, signup: Signup
) -> None:
    authorised, stranger = register_app(), register_app()
    owner = signup("rt", private=True)
    owner.with_token(scope="basic", application=authorised.application)
    tag = new_tag()
    authorised.subscribed(object="tag", object_id=tag, callback_url=callback.url("/authorised-tag"))
    user = authorised.subscribed(object="user", callback_url=callback.url("/authorised-user"))
    stranger.subscribed(object="tag", object_id=tag, callback_url=callback.url("/stranger-tag"))
    stranger.subscribed(object="user", callback_url=callback.url("/stranger-user"))
    media = owner.post_photo(
        jpeg(200, 200), caption=f"Only for friends #{tag}", lat="37.808", lng="-122.4177"
    )

    (delivery,) = wait_for(lambda: deliveries_to(callback, "/authorised-user") or None)
    assert [(u["subscription_id"], u["data"]["media_id"]) for u in delivery.updates] == [
        (user["id"], media["id"])
    ]
    time.sleep(1)  # every update of the media was queued with this one
    assert [d.path for d in callback.all_posts()] == ["/authorised-user"]


def test_a_deleted_subscription_gets_nothing_more(
    register_app: Callable[[], App], callback: CallbackServer, signup: Signup
) -> None:
    app, owner = register_app(), signup("rt")
    tag = new_tag()
    subscription = app.subscribed(object="tag", object_id=tag, callback_url=callback.url())
    owner.post_photo(jpeg(200, 200), caption=f"#{tag}")
    wait_for(lambda: callback.delivered() or None)
    assert app.unsubscribe(id=subscription["id"]).status_code == 200
    owner.post_photo(jpeg(200, 200), caption=f"#{tag} again")
    time.sleep(1.5)
    assert len(callback.all_posts()) == 1
