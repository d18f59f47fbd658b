"""/oauth/access_token: the code and password grants, and v1's flat errors."""

import re
from concurrent.futures import ThreadPoolExecutor

import requests
from django.conf import settings
from oauth2_provider.models import AccessToken, RefreshToken

from tests.conftest import Stack
from tests.oauth.conftest import PASSWORD, Client, code_for, code_grant, exchange, flat, register
from users.models import User


def oauth_error(message: str, status: int = 400, error_type: str = "OAuthException") -> dict[str, object]:
    return {"code": status, "error_type": error_type, "error_message": message}


def test_password_grant_for_a_trusted_app(
    healthy_stack: Stack, http: requests.Session, trusted_app: Client, kevin: User
) -> None:
    credentials = {"client_id": trusted_app.client_id, "client_secret": trusted_app.secret}
    answer = exchange(
        http, healthy_stack, **credentials, grant_type="password", username=kevin.username, password=PASSWORD
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"access_token", "user"}
    assert body["user"] == {
        "id": str(kevin.id),
        "username": kevin.username,
        "full_name": "Kevin S",
        "profile_picture": f"{settings.CDN_URL}/profiles/anonymousUser.jpg",
    }
    me = http.get(
        f"{healthy_stack.api}/v1/users/self", params={"access_token": body["access_token"]}, timeout=10
    )
    assert me.json()["data"]["id"] == str(kevin.id)
    assert AccessToken.objects.get(token=body["access_token"]).scope == "basic"

    scoped = exchange(
        http,
        healthy_stack,
        **credentials,
        grant_type="password",
        username=kevin.username,
        password=PASSWORD,
        scope="likes comments",
    )
    assert AccessToken.objects.get(token=scoped.json()["access_token"]).scope == "basic likes comments"
    # v1 had no refresh tokens, and none are stored.
    assert not RefreshToken.objects.filter(application=trusted_app.application).exists()


def test_the_password_grant_is_for_trusted_apps_only(
    healthy_stack: Stack, http: requests.Session, client_app: Client, kevin: User
) -> None:
    answer = exchange(
        http,
        healthy_stack,
        client_id=client_app.client_id,
        client_secret=client_app.secret,
        grant_type="password",
        username=kevin.username,
        password=PASSWORD,
    )
    assert (answer.status_code, flat(answer)) == (
        400,
        oauth_error("This app may not use grant_type=password."),
    )
    assert not AccessToken.objects.filter(application=client_app.application).exists()


def test_a_code_is_good_once(
    healthy_stack: Stack, http: requests.Session, client_app: Client, kevin: User
) -> None:
    code = code_for(http, healthy_stack, client_app, kevin)
    data = code_grant(client_app, code)
    assert exchange(http, healthy_stack, **data).status_code == 200
    again = exchange(http, healthy_stack, **data)
    assert (again.status_code, flat(again)) == (
        400,
        oauth_error("Matching code was not found or was already used."),
    )
    assert AccessToken.objects.filter(application=client_app.application).count() == 1


def test_racing_exchanges_of_one_code_make_one_token(
    healthy_stack: Stack, http: requests.Session, client_app: Client, kevin: User
) -> None:
    code = code_for(http, healthy_stack, client_app, kevin)
    data = code_grant(client_app, code)

    def attempt(_: int) -> int:
        return requests.post(f"{healthy_stack.api}/oauth/access_token", data=data, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(attempt, range(8)))
    assert statuses == [200] + [400] * 7  # never a 500: DOT looks the grant up several times
    assert AccessToken.objects.filter(application=client_app.application).count() == 1


def test_every_error_is_flat_and_names_the_problem(
    healthy_stack: Stack, http: requests.Session, client_app: Client, kevin: User
) -> None:
    other_app = register()
    code = code_for(http, healthy_stack, client_app, kevin)
    good = code_grant(client_app, code)
    password = {**good, "grant_type": "password", "username": kevin.username, "password": PASSWORD}
    del password["code"], password["redirect_uri"]
    trusted = register(trusted=True)
    trusted_password = {**password, "client_id": trusted.client_id, "client_secret": trusted.secret}

    def without(data: dict[str, str], name: str) -> dict[str, str]:
        return {key: value for key, value in data.items() if key != name}

    cases: list[tuple[dict[str, str], str]] = [
        (without(good, "client_id"), "You must provide a client_id"),
        (without(good, "client_secret"), "You must provide a client_secret"),
        (without(good, "grant_type"), "You must provide a grant_type"),
        (without(good, "code"), "You must provide a code"),
        (without(good, "redirect_uri"), "You must provide a redirect_uri"),
        (without(trusted_password, "username"), "You must provide a username"),
        (without(trusted_password, "password"), "You must provide a password"),
        ({**good, "client_id": "no-such-app"}, "Invalid client_id: no app is registered as no-such-app."),
        ({**good, "client_secret": "wrong"}, "Invalid client_secret for this client_id."),
        ({**good, "code": "not-a-code"}, "Matching code was not found or was already used."),
        (
            {**good, "client_id": other_app.client_id, "client_secret": other_app.secret},
            "Matching code was not found or was already used.",
        ),
        (
            {**good, "redirect_uri": client_app.redirect_uri + "/other"},
            "Redirect URI doesn't match original redirect URI",
        ),
        ({**trusted_password, "password": "ektachrome"}, "The username or password is incorrect."),
        (
            {**trusted_password, "scope": "photos"},
            "Invalid scope: use basic, comments, relationships or likes, separated by spaces.",
        ),
        (
            {**good, "grant_type": "refresh_token"},
            "Unsupported grant_type 'refresh_token': use authorization_code or password.",
        ),
        (
            {**good, "grant_type": "client_credentials"},
            "Unsupported grant_type 'client_credentials': use authorization_code or password.",
        ),
    ]
    for data, message in cases:
        answer = exchange(http, healthy_stack, **data)
        assert (answer.status_code, flat(answer)) == (400, oauth_error(message)), (data, answer.text)

    for method in ("GET", "PUT", "DELETE"):
        answer = http.request(method, f"{healthy_stack.api}/oauth/access_token", timeout=10)
        assert answer.status_code == 405
        assert flat(answer) == oauth_error(
            f"{method} is not allowed here; use POST.", 405, "APIMethodNotAllowedError"
        )
    # The code survived every failed attempt, and is still good once.
    assert exchange(http, healthy_stack, **good).status_code == 200


def test_tokens_have_v1s_form_user_id_first(
    healthy_stack: Stack, http: requests.Session, trusted_app: Client, client_app: Client, kevin: User
) -> None:
    """`<user id>.<7 hex naming the app>.<32 hex>`: clients of the era read the user id off the token."""
    form = re.compile(rf"{kevin.id}\.([0-9a-f]{{7}})\.[0-9a-f]{{32}}")
    by_password = exchange(
        http,
        healthy_stack,
        client_id=trusted_app.client_id,
        client_secret=trusted_app.secret,
        grant_type="password",
        username=kevin.username,
        password=PASSWORD,
    ).json()["access_token"]
    by_code = exchange(
        http, healthy_stack, **code_grant(client_app, code_for(http, healthy_stack, client_app, kevin))
    ).json()["access_token"]
    mobile = http.post(
        f"{healthy_stack.api}/v1/accounts/login",
        data={"username": kevin.username, "password": PASSWORD},
        timeout=10,
    ).json()["data"]["access_token"]
    apps = []
    for token in (by_password, by_code, mobile):
        matched = form.fullmatch(token)
        assert matched, token
        apps.append(matched.group(1))
    assert len(set(apps)) == 3  # each app its own middle part
    assert len({by_password, by_code, mobile}) == 3
