"""The mobile app's push endpoints: devices registered, moved and unregistered; push settings."""

from typing import Any

from oauth2_provider.models import Application

from oauth.actions import check_register_client
from push.models import Device
from tests.push.conftest import device_token, register
from tests.v1 import error

DEFAULTS = {"likes": "everyone", "comments": "everyone", "follows": "everyone", "follow_requests": "everyone",
            "mentions": "everyone"}  # fmt: skip


def test_a_device_is_registered_once_and_again_is_a_200(signup: Any) -> None:
    kevin = signup("kevin")
    token = device_token()
    first = kevin.post("users/self/devices", token=token.upper())
    assert first.status_code == 201, first.text
    assert first.json()["data"] == {
        "token": token,
        "platform": "ios",
        "active": True,
        "created_time": first.json()["data"]["created_time"],
    }
    again = kevin.post("users/self/devices", token=token, platform="ios")
    assert again.status_code == 200, again.text
    assert again.json()["data"] == first.json()["data"]
    assert Device.objects.filter(token=token, user_id=int(kevin.id), active=True).count() == 1


def test_registering_again_reactivates_an_unregistered_device(signup: Any) -> None:
    kevin = signup("kevin")
    token = device_token()
    register(kevin, token)
    assert kevin.delete(f"users/self/devices/{token}").status_code == 200
    device = Device.objects.get(token=token)
    assert (device.active, device.deactivation_reason) == (False, "DeletedByApp")
    assert device.deactivated_at is not None
    assert kevin.delete(f"users/self/devices/{token.upper()}").status_code == 200  # again: nothing to do
    assert register(kevin, token)["active"] is True
    again = Device.objects.get(token=token)
    assert (again.active, again.deactivation_reason, again.deactivated_at) == (True, "", None)


def test_a_token_registered_by_another_user_moves_to_the_caller(signup: Any) -> None:
    kevin, mike = signup("kevin"), signup("mike")
    token = device_token()
    register(kevin, token)
    moved = mike.post("users/self/devices", token=token)
    assert moved.status_code == 201, moved.text
    assert Device.objects.get(token=token).user_id == int(mike.id)
    # It is no longer kevin's to unregister.
    assert error(kevin.delete(f"users/self/devices/{token}")) == (404, "APINotFoundError")


def test_bad_device_requests_are_named_400s(signup: Any) -> None:
    kevin = signup("kevin")
    for token in ("", "xyz", "ab" * 31, "zz" * 32, " " + "ab" * 32):
        response = kevin.post("users/self/devices", token=token)
        assert error(response) == (400, "APIInvalidParametersError")
        assert "64 hexadecimal digits" in response.json()["meta"]["error_message"]
    response = kevin.post("users/self/devices", token=device_token(), platform="android")
    assert error(response) == (400, "APIInvalidParametersError")
    assert "platform" in response.json()["meta"]["error_message"]
    assert error(kevin.delete("users/self/devices/nothex")) == (400, "APIInvalidParametersError")
    assert error(kevin.delete(f"users/self/devices/{device_token()}")) == (404, "APINotFoundError")
    assert error(kevin.get("users/self/devices")) == (405, "APIMethodNotAllowedError")


def test_push_settings_default_to_everyone_and_change_one_at_a_time(signup: Any) -> None:
    kevin = signup("kevin")
    assert kevin.data("users/self/push_settings") == DEFAULTS
    changed = kevin.post("users/self/push_settings", likes="following", mentions="off")
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"] == {**DEFAULTS, "likes": "following", "mentions": "off"}
    kevin.post("users/self/push_settings", likes="everyone")
    assert kevin.data("users/self/push_settings") == {**DEFAULTS, "mentions": "off"}


def test_bad_push_settings_are_named_400s_and_change_nothing(signup: Any) -> None:
    kevin = signup("kevin")
    for fields, named in (
        ({}, "at least one"),
        ({"likes": "friends"}, "likes must be one of"),
        ({"likes": "OFF"}, "likes must be one of"),
        ({"likes": "off", "pokes": "off"}, "Unknown push setting: pokes"),
    ):
        response = kevin.post("users/self/push_settings", **fields)
        assert error(response) == (400, "APIInvalidParametersError")
        assert named in response.json()["meta"]["error_message"]
    assert kevin.data("users/self/push_settings") == DEFAULTS


def test_a_third_party_app_cannot_register_devices_nor_read_settings(signup: Any) -> None:
    kevin = signup("kevin")
    client, _ = check_register_client(name="Filters", redirect_uri="https://filters.example.com/cb")
    app = kevin.with_token(scope="basic likes comments relationships", application=client)
    assert isinstance(client, Application)
    assert error(app.post("users/self/devices", token=device_token())) == (400, "OAuthPermissionsException")
    assert error(app.get("users/self/push_settings")) == (400, "OAuthPermissionsException")
    assert error(app.post("users/self/push_settings", likes="off")) == (400, "OAuthPermissionsException")
    assert not Device.objects.filter(user_id=int(kevin.id)).exists()
