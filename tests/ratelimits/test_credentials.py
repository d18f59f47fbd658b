"""Credential checks are throttled before any hash: per account, per address, per app and address.

The test stack allows 5 failures per account and per app and address, 400 per
address, in 15-minute windows (deploy/stack.py). A refused attempt is refused
even with the right password: proof that no hash was checked.
"""

import uuid
from typing import Any

import requests
from django.conf import settings

from tests.conftest import Stack
from tests.oauth.conftest import PASSWORD, form_fields, register
from tests.v1 import sign_up

ACCOUNT_LIMIT = settings.CREDENTIAL_FAILURES_PER_ACCOUNT


def mobile_log_in(http: requests.Session, base: str, username: str, password: str, **headers: str) -> Any:
    return http.post(
        f"{base}/v1/accounts/login",
        data={"username": username, "password": password},
        headers=headers,
        timeout=15,
    )


def fresh_address() -> str:
    """An address (IPv6's documentation prefix) no earlier run has failed from in this window."""
    return f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"


def throttled(response: requests.Response) -> str:
    """The message of a v1 429 (enveloped or flat), after checking its Retry-After."""
    assert response.status_code == 429, response.text
    assert 0 < int(response.headers["Retry-After"]) <= settings.CREDENTIAL_WINDOW_SECONDS
    body = response.json()
    meta = body.get("meta", body)
    assert meta["error_type"] == "OAuthRateLimitException"
    message: str = meta["error_message"]
    return message


def test_an_account_is_throttled_on_every_log_in_path_even_with_its_password(
    healthy_stack: Stack, http: requests.Session
) -> None:
    account = sign_up(healthy_stack.api, http, prefix="thr")
    for _ in range(ACCOUNT_LIMIT):
        wrong = mobile_log_in(http, healthy_stack.api, account.username, "not-my-password")
        assert wrong.status_code == 400
        assert wrong.json()["meta"]["error_message"] == "The username or password is incorrect."
    # The right password now: refused, no hash checked.
    assert "this account" in throttled(mobile_log_in(http, healthy_stack.api, account.username, PASSWORD))
    # The same account through the OAuth password grant of a trusted app (flat error, as v1's).
    app = register(trusted=True)
    grant = http.post(
        f"{healthy_stack.api}/oauth/access_token",
        data={
            "client_id": app.client_id,
            "client_secret": app.secret,
            "grant_type": "password",
            "username": account.username.upper(),  # usernames are one account whatever the case
            "password": PASSWORD,
        },
        timeout=15,
    )
    throttled(grant)
    # And through the OAuth log-in page: a page saying so, with the 429.
    with requests.Session() as browser:
        page = browser.get(f"{healthy_stack.api}/oauth/login", timeout=15)
        fields = form_fields(page.text, "/oauth/login")
        fields.update(username=account.username, password=PASSWORD)
        answer = browser.post(f"{healthy_stack.api}/oauth/login", data=fields, timeout=15)
    assert answer.status_code == 429
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "Too many failed attempts" in answer.text
    # The account itself still works with the token it had.
    assert account.get("users/self").status_code == 200


def test_a_name_nobody_has_is_throttled_the_same(healthy_stack: Stack, http: requests.Session) -> None:
    nobody = f"nobody_{uuid.uuid4().hex[:10]}"
    answers = [mobile_log_in(http, healthy_stack.api, nobody, "guess") for _ in range(ACCOUNT_LIMIT + 1)]
    assert [a.status_code for a in answers] == [400] * ACCOUNT_LIMIT + [429]
    assert answers[0].json()["meta"]["error_message"] == "The username or password is incorrect."


def test_a_success_clears_the_accounts_failures(healthy_stack: Stack, http: requests.Session) -> None:
    account = sign_up(healthy_stack.api, http, prefix="throk")
    for _ in range(3):
        for _ in range(ACCOUNT_LIMIT - 1):
            assert mobile_log_in(http, healthy_stack.api, account.username, "typo").status_code == 400
        assert mobile_log_in(http, healthy_stack.api, account.username, PASSWORD).status_code == 200


def test_one_address_spraying_many_accounts_meets_the_address_limit(
    healthy_stack: Stack, http: requests.Session
) -> None:
    """Cheap failures (client_ids nobody has) count too; sent to an app server as nginx forwards them."""
    app_server = f"http://127.0.0.1:{healthy_stack.profile.apps[0]}"
    sprayer, bystander = fresh_address(), fresh_address()
    for n in range(settings.CREDENTIAL_FAILURES_PER_ADDRESS):
        answer = http.post(
            f"{app_server}/oauth/access_token",
            data={
                "client_id": f"guess-{n}",
                "client_secret": "x",
                "grant_type": "authorization_code",
                "code": "x",
                "redirect_uri": "https://example.com/cb",
            },
            headers={"X-Forwarded-For": sprayer},
            timeout=15,
        )
        assert answer.json()["error_message"] == f"Invalid client_id: no app is registered as guess-{n}."
    account = sign_up(healthy_stack.api, http, prefix="thraddr")
    throttled(mobile_log_in(http, app_server, account.username, PASSWORD, **{"X-Forwarded-For": sprayer}))
    # Another address is not held by it.
    ok = mobile_log_in(http, app_server, account.username, PASSWORD, **{"X-Forwarded-For": bystander})
    assert ok.status_code == 200, ok.text


def test_wrong_client_secrets_are_throttled_per_app_and_address(
    healthy_stack: Stack, http: requests.Session
) -> None:
    client_app = register()
    app_server = f"http://127.0.0.1:{healthy_stack.profile.apps[1]}"
    attacker, owner = fresh_address(), fresh_address()

    def exchange(secret: str, address: str) -> requests.Response:
        return http.post(
            f"{app_server}/oauth/access_token",
            data={
                "client_id": client_app.client_id,
                "client_secret": secret,
                "grant_type": "authorization_code",
                "code": "no-such-code",
                "redirect_uri": client_app.redirect_uri,
            },
            headers={"X-Forwarded-For": address},
            timeout=15,
        )

    for _ in range(settings.CREDENTIAL_FAILURES_PER_CLIENT):
        assert "client_secret" in exchange("wrong", attacker).json()["error_message"]
    # The right secret from the attacker's address: refused before its hash.
    assert "this app" in throttled(exchange(client_app.secret, attacker))
    # The app's own server, elsewhere, is not locked out: its secret is checked (the code is not).
    answer = exchange(client_app.secret, owner)
    assert answer.status_code == 400
    assert answer.json()["error_message"] == "Matching code was not found or was already used."


def test_the_admin_log_in_page_is_throttled(healthy_stack: Stack) -> None:
    username = f"nosuchadmin_{uuid.uuid4().hex[:8]}"
    with requests.Session() as browser:
        statuses = []
        for _ in range(ACCOUNT_LIMIT + 1):
            page = browser.get(f"{healthy_stack.api}/admin/login/", timeout=15)
            fields = form_fields(page.text, "/admin/login/")
            fields.update(username=username, password="guess")
            answer = browser.post(f"{healthy_stack.api}/admin/login/", data=fields, timeout=15)
            statuses.append(answer.status_code)
    assert statuses == [200] * ACCOUNT_LIMIT + [429]
    assert "Too many failed attempts" in answer.text
