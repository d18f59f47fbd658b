"""Real-time subscriptions, geographies and embedding, as instagram.com/developer/realtime/
and /developer/embedding/ documented them."""

from collections.abc import Iterator

import pytest

from instagram.crypto import encrypt
from subscriptions.models import Subscription, SubscriptionObject
from tests.conformance.conftest import PIER, World, ok, public_read
from tests.conformance.shapes import MEDIA, NULL, SUBSCRIPTION, URL, Obj, check
from tests.subscriptions.conftest import App, CallbackServer, callback  # noqa: F401 (the fixture)

OEMBED = Obj(
    {
        "version": str,
        "type": str,
        "provider_name": str,
        "provider_url": URL,
        "title": str,
        "author_name": str,
        "author_url": URL,
        "author_id": int,
        "media_id": str,
        "url": URL,
        "width": int,
        "height": int,
        "thumbnail_url": URL,
        "thumbnail_width": int,
        "thumbnail_height": int,
        "cache_age": int,
    },
    optional={"html": str},
)


@pytest.fixture
def app(world: World) -> Iterator[App]:
    registered = App(
        base=world.alice.base,
        http=world.alice.http,
        application=world.app.application,
        secret=world.app.secret,
    )
    yield registered
    registered.unsubscribe(object="all")


def test_subscriptions_create_list_and_delete(app: App, callback: CallbackServer) -> None:  # noqa: F811
    made = app.subscribe(object="user", callback_url=callback.url(), verify_token="tok")
    subscription = ok(made, SUBSCRIPTION)
    assert (subscription["object"], subscription["object_id"], subscription["aspect"]) == (
        "user",
        None,
        "media",
    )
    # The hub.challenge handshake reached the callback with the verify_token.
    assert callback.challenges
    assert callback.challenges[-1]["hub.verify_token"] == "tok"
    tag = ok(app.subscribe(object="tag", object_id="sunset", callback_url=callback.url()), SUBSCRIPTION)
    listed = ok(
        app.http.get(f"{app.base}/v1/subscriptions", params=app.credentials, timeout=15), [SUBSCRIPTION]
    )
    assert {s["id"] for s in listed} == {subscription["id"], tag["id"]}
    # The documented trailing slash, and deletion by id and by object, each answering data: null.
    assert (
        ok(
            app.http.delete(
                f"{app.base}/v1/subscriptions/", params={**app.credentials, "id": tag["id"]}, timeout=15
            ),
            NULL,
        )
        is None
    )
    assert ok(app.unsubscribe(object="user"), NULL) is None
    assert (
        ok(app.http.get(f"{app.base}/v1/subscriptions", params=app.credentials, timeout=15), [SUBSCRIPTION])
        == []
    )


def test_geography_media_recent_with_count_and_min_id(world: World) -> None:
    geography = Subscription.objects.create(
        application=world.app.application,
        object=SubscriptionObject.GEOGRAPHY,
        latitude=float(PIER["lat"]),
        longitude=float(PIER["lng"]),
        radius=1000,
        callback_url="https://public.example/hook",
        client_secret=encrypt("unused"),
    )
    try:
        path = f"geographies/{geography.id}/media/recent"
        media = ok(public_read(world, path, count=5), [MEDIA])
        assert world.photos[0]["id"] in [m["id"] for m in media]
        assert world.photos[0]["id"] not in [
            m["id"] for m in ok(public_read(world, path, min_id=world.photos[0]["id"]), [MEDIA])
        ]
    finally:
        geography.delete()


def test_oembed_of_a_permalink(world: World) -> None:
    photo = world.photos[0]
    response = world.bob.http.get(
        f"{world.bob.base}/oembed", params={"url": photo["link"], "maxwidth": 320}, timeout=15
    )
    assert response.status_code == 200, response.text
    check(response.json(), OEMBED)
    embed = response.json()
    assert (embed["type"], embed["version"], embed["media_id"]) == ("photo", "1.0", photo["id"])
    assert (embed["author_name"], embed["author_id"]) == (world.alice.username, int(world.alice.id))
    assert embed["width"] <= 320
    assert embed["title"] == photo["caption"]["text"]
    # The same permalink on the era's short host embeds the same photo.
    era = photo["link"].split("/p/", 1)[1]
    short = world.bob.http.get(
        f"{world.bob.base}/oembed", params={"url": f"http://instagr.am/p/{era}"}, timeout=15
    )
    assert short.json()["media_id"] == photo["id"]


@pytest.mark.parametrize(
    ("size", "rendition"), [("t", "thumbnail"), ("m", "low_resolution"), ("l", "standard_resolution")]
)
def test_media_redirect_by_size(world: World, size: str, rendition: str) -> None:
    photo = world.photos[0]
    shortcode = photo["link"].rstrip("/").rsplit("/", 1)[1]
    response = world.bob.http.get(
        f"{world.bob.base}/p/{shortcode}/media/", params={"size": size}, allow_redirects=False, timeout=15
    )
    assert response.status_code == 302
    assert response.headers["Location"] == photo["images"][rendition]["url"]
