"""The subscription endpoints answer what instagram/openapi.yaml says, success shapes included."""

from collections.abc import Callable

from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.conftest import Stack
from tests.subscriptions.conftest import App, CallbackServer, new_tag
from tests.test_openapi import FORM, JSON, Conforming, described

__all__ = ["described"]  # the fixture, shared with tests/test_openapi.py


def test_subscription_answers_conform(
    described: OpenApiSchema, healthy_stack: Stack, register_app: Callable[[], App], callback: CallbackServer
) -> None:
    api = Conforming(described, healthy_stack.api)
    app = register_app()
    fields = {**app.credentials, "aspect": "media", "callback_url": callback.url()}
    tag = api.call(
        "POST", "/v1/subscriptions", body={**fields, "object": "tag", "object_id": new_tag()}, media_type=FORM
    )["data"]
    api.call(
        "POST",
        "/v1/subscriptions",
        body={**fields, "object": "geography", "lat": 37.808, "lng": -122.4177, "radius": 500},
        media_type=JSON,
    )
    api.call("POST", "/v1/subscriptions", body={**fields, "object": "user"}, media_type=FORM)
    listed = api.call("GET", "/v1/subscriptions", query=app.credentials)["data"]
    assert [s["object"] for s in listed] == ["tag", "geography", "user"]
    api.call("DELETE", "/v1/subscriptions", query={**app.credentials, "id": tag["id"]})
    api.call("DELETE", "/v1/subscriptions", query={**app.credentials, "object": "all"})
    assert api.call("GET", "/v1/subscriptions", query=app.credentials)["data"] == []
    callback.echo = lambda challenge: "wrong"
    refused = api.call(
        "POST", "/v1/subscriptions", status=400, body={**fields, "object": "user"}, media_type=FORM
    )
    assert refused["meta"]["error_type"] == "APISubscriptionError"
