"""The push endpoints' success answers conform to instagram/openapi.yaml (the fuzz rarely reaches them)."""

from typing import Any

import schemathesis

from tests.conftest import Stack
from tests.push.conftest import device_token
from tests.test_openapi import FORM, JSON, Conforming


def test_push_answers_conform(signup: Any, healthy_stack: Stack) -> None:
    api = Conforming(schemathesis.openapi.from_url(f"{healthy_stack.api}/v1/openapi.json"), healthy_stack.api)
    kevin = signup("kevin")
    bearer = {"Authorization": f"Bearer {kevin.token}"}
    token = device_token()
    new = api.call(
        "POST", "/v1/users/self/devices", status=201, body={"token": token}, media_type=FORM, headers=bearer
    )
    again = api.call(
        "POST",
        "/v1/users/self/devices",
        body={"token": token.upper(), "platform": "ios"},
        media_type=JSON,
        headers=bearer,
    )
    assert again["data"] == new["data"]
    api.call("GET", "/v1/users/self/push_settings", headers=bearer)
    changed = api.call(
        "POST", "/v1/users/self/push_settings", body={"likes": "off"}, media_type=JSON, headers=bearer
    )
    assert changed["data"]["likes"] == "off"
    api.call("DELETE", "/v1/users/self/devices/{token}", path_parameters={"token": token}, headers=bearer)
