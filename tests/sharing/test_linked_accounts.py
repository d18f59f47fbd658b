"""Linking Twitter and Facebook accounts through the API; tokens encrypted at rest and never shown."""

import uuid
from typing import Any

from django.db import connection

from instagram.crypto import decrypt
from sharing.models import LinkedAccount
from tests.v1 import error


def test_link_list_link_again_and_unlink(signup: Any) -> None:
    kevin = signup("kevin")
    assert kevin.data("users/self/linked_accounts") == []
    linked = kevin.post(
        "users/self/linked_accounts/twitter",
        access_token="t-one",
        access_token_secret="s-one",
        account_id="12",
        account_name="kevin",
    )
    assert linked.status_code == 200, linked.text
    assert linked.json()["data"] == {
        "service": "twitter",
        "id": "12",
        "username": "kevin",
        "created_time": linked.json()["data"]["created_time"],
        "updated_time": linked.json()["data"]["updated_time"],
    }
    assert kevin.post("users/self/linked_accounts/facebook", access_token="f-one").status_code == 200
    assert [a["service"] for a in kevin.data("users/self/linked_accounts")] == ["facebook", "twitter"]

    # Linking again replaces the account: still one per service, with the new token.
    again = kevin.post(
        "users/self/linked_accounts/twitter", access_token="t-two", access_token_secret="s-two"
    )
    assert again.status_code == 200, again.text
    assert (again.json()["data"]["id"], again.json()["data"]["username"]) == (None, None)
    twitter = LinkedAccount.objects.get(user_id=int(kevin.id), service="twitter")
    assert (twitter.access_token(), twitter.token_secret()) == ("t-two", "s-two")

    assert kevin.delete("users/self/linked_accounts/twitter").status_code == 200
    assert kevin.delete("users/self/linked_accounts/twitter").status_code == 200  # nothing left: still done
    assert [a["service"] for a in kevin.data("users/self/linked_accounts")] == ["facebook"]


def test_bad_links_are_named_400s(signup: Any) -> None:
    kevin = signup("kevin")
    cases = [
        ("myspace", {"access_token": "x"}, "service must be one of twitter, facebook."),
        ("twitter", {}, "Missing required parameter: access_token."),
        ("twitter", {"access_token": "  "}, "Missing required parameter: access_token."),
        ("twitter", {"access_token": "x"}, "Missing required parameter: access_token_secret"),
        ("facebook", {"access_token": "x", "access_token_secret": "y"}, "access_token_secret is for twitter"),
        ("facebook", {"access_token": "x" * 2049}, "access_token is longer than 2048 characters."),
        ("facebook", {"access_token": "x", "account_name": "n" * 101}, "account_name is longer than 100"),
    ]
    for service, fields, message in cases:
        response = kevin.post(f"users/self/linked_accounts/{service}", **fields)
        assert error(response) == (400, "APIInvalidParametersError"), response.text
        assert message in response.json()["meta"]["error_message"]
    assert error(kevin.delete("users/self/linked_accounts/myspace")) == (400, "APIInvalidParametersError")
    assert error(kevin.get("users/self/linked_accounts/twitter")) == (405, "APIMethodNotAllowedError")
    assert kevin.data("users/self/linked_accounts") == []


def test_tokens_are_encrypted_at_rest_and_never_returned(signup: Any) -> None:
    kevin = signup("kevin")
    token, secret = f"token-{uuid.uuid4().hex}", f"secret-{uuid.uuid4().hex}"
    response = kevin.post(
        "users/self/linked_accounts/twitter", access_token=token, access_token_secret=secret
    )
    assert response.status_code == 200
    listed = kevin.get("users/self/linked_accounts")
    for text in (response.text, listed.text):
        assert token not in text
        assert secret not in text
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t::text, encrypted_token, encrypted_token_secret FROM sharing_linked_account t"
            " WHERE user_id = %s",
            [int(kevin.id)],
        )
        row, encrypted_token, encrypted_secret = cursor.fetchone()
    assert token not in row
    assert secret not in row
    assert (decrypt(encrypted_token), decrypt(encrypted_secret)) == (token, secret)
    assert token not in str(LinkedAccount.objects.get(user_id=int(kevin.id)))


def test_users_only_ever_see_their_own(signup: Any) -> None:
    kevin, mike = signup("kevin"), signup("mike")
    assert kevin.post("users/self/linked_accounts/facebook", access_token="k").status_code == 200
    assert mike.data("users/self/linked_accounts") == []
    assert mike.delete("users/self/linked_accounts/facebook").status_code == 200
    assert [a["service"] for a in kevin.data("users/self/linked_accounts")] == ["facebook"]
