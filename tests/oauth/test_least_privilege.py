"""The mobile app's own endpoints refuse third-party tokens, whatever the user granted, and change nothing."""

from typing import Any

import pytest
import requests

from tests.conftest import Stack
from tests.oauth.conftest import Client, code_for, code_grant, exchange, flat
from tests.photos.images import jpeg
from tests.push.conftest import device_token
from tests.v1 import Account, error
from users.models import User


def password_grant_token(http: requests.Session, stack: Stack, client: Client, account: Account) -> str:
    response = exchange(
        http,
        stack,
        client_id=client.client_id,
        client_secret=client.secret,
        grant_type="password",
        username=account.username,
        password="kodachrome-64",
        scope="basic",
    )
    assert response.status_code == 200, response.text
    return str(flat(response)["access_token"])


@pytest.mark.parametrize("grant", ["password", "authorization_code"])
def test_third_party_tokens_are_refused_by_first_party_endpoints(
    grant: str, signup: Any, healthy_stack: Stack, trusted_app: Client, client_app: Client
) -> None:
    kevin: Account = signup("kevin")
    media = kevin.post_photo(jpeg(320, 320), caption="mine")
    browser = requests.Session()
    if grant == "password":
        token = password_grant_token(browser, healthy_stack, trusted_app, kevin)
    else:
        user = User.objects.get(id=int(kevin.id))
        code = code_for(browser, healthy_stack, client_app, user, scope="basic")
        response = exchange(browser, healthy_stack, **code_grant(client_app, code))
        assert response.status_code == 200, response.text
        token = str(flat(response)["access_token"])
    app = Account(base=kevin.base, http=kevin.http, token=token, id=kevin.id, username=kevin.username)
    before = kevin.data("users/self")

    refused = [
        app.post("accounts/edit", is_private="true", bio="pwned"),
        app.upload(jpeg(320, 320), caption="not mine"),
        app.set_profile_picture(jpeg(320, 320)),
        app.upload_video(b"not even a video", caption="not mine"),
        app.delete("accounts/profile_picture"),
        app.delete(f"media/{media['id']}"),
        app.post("users/self/devices", token=device_token()),
        app.delete(f"users/self/devices/{device_token()}"),
        app.get("users/self/push_settings"),
        app.post("users/self/push_settings", likes="off"),
        app.get("users/self/linked_accounts"),
        app.post("users/self/linked_accounts/twitter", access_token_key="k", access_token_secret="s"),
        app.delete("users/self/linked_accounts/twitter"),
    ]
    for response in refused:
        assert error(response) == (400, "OAuthPermissionsException"), (response.url, response.text)

    # Reads stay open to the app, and nothing changed.
    assert app.data(f"media/{media['id']}")["id"] == media["id"]
    assert kevin.data("users/self") == before
    assert [m["id"] for m in kevin.data("users/self/media/recent")] == [media["id"]]
    assert kevin.data("users/self/push_settings")["likes"] != "off"
