"""Sign-up, log-in, token use and log-out, end to end through nginx."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from django.conf import settings

from tests.conftest import Stack
from users.models import User


def new_name() -> str:
    return f"u_{uuid.uuid4().hex[:12]}"


def post(http: requests.Session, stack: Stack, path: str, **data: str) -> requests.Response:
    return http.post(f"{stack.api}/v1/accounts/{path}", data=data, timeout=10)


def meta(response: requests.Response) -> dict[str, Any]:
    envelope_meta: dict[str, Any] = response.json()["meta"]
    return envelope_meta


def test_sign_up_use_the_token_log_out(healthy_stack: Stack, http: requests.Session) -> None:
    name = new_name()
    signed_up = post(http, healthy_stack, "signup", username=name, password="kodachrome-64", full_name="Kev")
    assert signed_up.status_code == 200, signed_up.text
    data = signed_up.json()["data"]
    token, user = data["access_token"], data["user"]
    assert user == {
        "id": user["id"],
        "username": name,
        "full_name": "Kev",
        "profile_picture": f"{settings.CDN_URL}/profiles/anonymousUser.jpg",
        "bio": "",
        "website": "",
        "counts": {"media": 0, "follows": 0, "followed_by": 0},
    }
    assert user["id"].isdigit()

    by_query = http.get(f"{healthy_stack.api}/v1/users/self", params={"access_token": token}, timeout=10)
    by_header = http.get(
        f"{healthy_stack.api}/v1/users/{user['id']}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert by_query.json() == by_header.json() == {"meta": {"code": 200}, "data": user}

    logged_out = http.post(
        f"{healthy_stack.api}/v1/accounts/logout", params={"access_token": token}, timeout=10
    )
    assert logged_out.json() == {"meta": {"code": 200}, "data": None}
    after = http.get(f"{healthy_stack.api}/v1/users/self", params={"access_token": token}, timeout=10)
    assert after.status_code == 400
    assert meta(after)["error_type"] == "OAuthAccessTokenException"


def test_log_in_gives_a_new_token(healthy_stack: Stack, http: requests.Session) -> None:
    name = new_name()
    post(http, healthy_stack, "signup", username=name, password="kodachrome-64")
    wrong = post(http, healthy_stack, "login", username=name, password="ektachrome")
    assert (wrong.status_code, meta(wrong)["error_type"]) == (400, "APIInvalidParametersError")
    right = http.post(
        f"{healthy_stack.api}/v1/accounts/login",
        json={"username": name.upper(), "password": "kodachrome-64"},
        timeout=10,
    )
    assert right.status_code == 400  # usernames log in as written
    right = post(http, healthy_stack, "login", username=name, password="kodachrome-64")
    token = right.json()["data"]["access_token"]
    me = http.get(f"{healthy_stack.api}/v1/users/self", params={"access_token": token}, timeout=10)
    assert me.json()["data"]["username"] == name


def test_bad_sign_ups_name_the_problem_and_create_nothing(
    healthy_stack: Stack, http: requests.Session
) -> None:
    taken = new_name()
    post(http, healthy_stack, "signup", username=taken, password="kodachrome-64")
    cases = {
        "username: ": {"username": "no spaces!", "password": "kodachrome-64"},
        "is taken": {"username": taken.upper(), "password": "kodachrome-64"},
        "password: This password is too short": {"username": new_name(), "password": "abc"},
        "Missing required parameter: password": {"username": new_name()},
    }
    for expected, data in cases.items():
        response = post(http, healthy_stack, "signup", **data)
        assert response.status_code == 400, (data, response.text)
        assert meta(response)["error_type"] == "APIInvalidParametersError"
        assert expected in meta(response)["error_message"], (expected, response.text)
    bad_json = http.post(
        f"{healthy_stack.api}/v1/accounts/signup",
        data=b"{nope",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert meta(bad_json) == {
        "code": 400,
        "error_type": "APIInvalidParametersError",
        "error_message": "The request body is not valid JSON.",
    }
    assert User.objects.filter(username__iexact=taken).count() == 1


def test_one_username_two_racing_sign_ups(healthy_stack: Stack) -> None:
    name = new_name()

    def sign_up(_: int) -> int:
        return requests.post(
            f"{healthy_stack.api}/v1/accounts/signup",
            data={"username": name, "password": "kodachrome-64"},
            timeout=10,
        ).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(pool.map(sign_up, range(4)))
    assert statuses == [200, 400, 400, 400]


def test_token_errors_use_v1_types(healthy_stack: Stack, http: requests.Session) -> None:
    missing = http.get(f"{healthy_stack.api}/v1/users/self", timeout=10)
    assert (missing.status_code, meta(missing)["error_type"]) == (400, "OAuthParameterException")
    forged = http.get(f"{healthy_stack.api}/v1/users/self", params={"access_token": "forged"}, timeout=10)
    assert (forged.status_code, meta(forged)["error_type"]) == (400, "OAuthAccessTokenException")


def test_unknown_and_private_users(healthy_stack: Stack, http: requests.Session) -> None:
    viewer = post(http, healthy_stack, "signup", username=new_name(), password="kodachrome-64").json()["data"]
    private_name = new_name()
    post(http, healthy_stack, "signup", username=private_name, password="kodachrome-64")
    private = User.objects.get(username=private_name)
    User.objects.filter(id=private.id).update(is_private=True)
    token = {"access_token": viewer["access_token"]}
    # The profile of a private account shows; its content does not.
    profile = http.get(f"{healthy_stack.api}/v1/users/{private.id}", params=token, timeout=10)
    assert (profile.status_code, profile.json()["data"]["username"]) == (200, private_name)
    hidden = http.get(f"{healthy_stack.api}/v1/users/{private.id}/follows", params=token, timeout=10)
    assert (hidden.status_code, meta(hidden)["error_type"]) == (400, "APINotAllowedError")
    unknown = http.get(f"{healthy_stack.api}/v1/users/999999999", params=token, timeout=10)
    assert (unknown.status_code, meta(unknown)["error_type"]) == (404, "APINotFoundError")


def test_profile_edit_limits_count_what_was_sent(
    healthy_stack: Stack, http: requests.Session, signup: Any
) -> None:
    account = signup("edit")
    padded = "\r" + "*" * 150  # 151 characters sent; 150 once trimmed
    refused = account.post("accounts/edit", bio=padded)
    assert refused.status_code == 400
    assert refused.json()["meta"]["error_message"] == "bio: at most 150 characters (got 151)."
    assert account.data("users/self")["bio"] == ""
    assert account.post("accounts/edit", bio=" " + "*" * 148 + " ").status_code == 200
    assert account.data("users/self")["bio"] == "*" * 148
