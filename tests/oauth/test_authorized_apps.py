"""A user sees the third-party apps holding tokens for their account and revokes them (app and web)."""

from typing import Any

import requests

from tests.conftest import Stack
from tests.oauth.conftest import PASSWORD, form_fields, register
from tests.v1 import Account, error


def on_each_app_server(stack: Stack, account: Account) -> list[requests.Response]:
    """GET users/self with `account`'s token from each app server directly (no nginx, no retry)."""
    return [
        requests.get(
            f"http://127.0.0.1:{port}/v1/users/self", params={"access_token": account.token}, timeout=15
        )
        for port in stack.profile.apps
    ]


def test_the_mobile_app_lists_and_revokes_authorized_apps(healthy_stack: Stack, signup: Any) -> None:
    user = signup("authz")
    filters, printer = register(name="Filters Plus"), register(name="Photo Printer")
    as_filters = user.with_token(scope="basic likes", application=filters.application)
    as_printer = user.with_token(scope="basic", application=printer.application)

    listed = user.data("users/self/authorized_apps")
    assert {app["name"]: app["scopes"] for app in listed} == {
        "Filters Plus": ["basic", "likes"],
        "Photo Printer": ["basic"],
    }
    assert {app["client_id"] for app in listed} == {filters.client_id, printer.client_id}
    assert all(app["website"].startswith("app-") for app in listed)
    # Only the Instagram app may see or revoke: not an app with the user's token.
    assert error(as_filters.get("users/self/authorized_apps")) == (400, "OAuthPermissionsException")
    assert error(as_filters.delete(f"users/self/authorized_apps/{printer.client_id}")) == (
        400,
        "OAuthPermissionsException",
    )

    assert user.delete(f"users/self/authorized_apps/{filters.client_id}").status_code == 200
    # Refused at once by every app server; the other app still works.
    for answer in on_each_app_server(healthy_stack, as_filters):
        assert answer.status_code == 400
        assert answer.json()["meta"]["error_type"] == "OAuthAccessTokenException"
    assert all(answer.status_code == 200 for answer in on_each_app_server(healthy_stack, as_printer))
    assert [app["name"] for app in user.data("users/self/authorized_apps")] == ["Photo Printer"]
    assert error(user.delete(f"users/self/authorized_apps/{filters.client_id}")) == (404, "APINotFoundError")
    assert error(user.delete("users/self/authorized_apps/no-such-app")) == (404, "APINotFoundError")
    # The mobile app is not in the list, and still works.
    assert user.get("users/self").status_code == 200


def test_the_web_page_lists_apps_and_revokes_with_its_form(healthy_stack: Stack, signup: Any) -> None:
    user = signup("authzweb")
    app = register(name="Web Gallery")
    as_app = user.with_token(scope="basic comments", application=app.application)
    page_url = f"{healthy_stack.api}/oauth/authorized_apps"
    with requests.Session() as browser:
        # Logged out: the log-in page, coming back here.
        first = browser.get(page_url, timeout=15)
        assert "/oauth/login" in first.url
        fields = form_fields(first.text, "/oauth/login")
        fields.update(username=user.username, password=PASSWORD)
        page = browser.post(f"{healthy_stack.api}/oauth/login", data=fields, timeout=15)
        assert page.url == page_url
        assert "Web Gallery" in page.text
        assert "post and delete comments on your behalf" in page.text
        revoke = form_fields(page.text, "/oauth/authorized_apps")
        assert revoke["client_id"] == app.client_id
        # Without the CSRF token the form is refused and nothing is revoked.
        forged = browser.post(page_url, data={"client_id": app.client_id}, timeout=15)
        assert forged.status_code == 403
        assert as_app.get("users/self").status_code == 200
        after = browser.post(page_url, data=revoke, timeout=15)
        assert after.url == page_url
        assert "No application can use your account." in after.text
    assert error(as_app.get("users/self")) == (400, "OAuthAccessTokenException")
