"""Who sees what of a private account: every user-data endpoint against every kind of caller.

The cells name the HTTP status and, for errors, the v1 error type. A
failure prints the whole matrix that came back, not only the first cell.
"""

from typing import Any

import requests

from tests.conftest import Stack

ROLES = ["owner", "follower", "requester", "stranger", "blocked", "no token", "no scope"]
OK = "200"
NOT_ALLOWED = "400 APINotAllowedError"
NOT_FOUND = "404 APINotFoundError"
NO_TOKEN = "400 OAuthParameterException"
NO_SCOPE = "400 OAuthPermissionsException"

#                     owner  follower  requester    stranger     blocked    no token  no scope
PRIVATE_OWNER = {
    "users/{id}": [OK, OK, OK, OK, NOT_FOUND, NO_TOKEN, NO_SCOPE],
    "users/{id}/follows": [OK, OK, NOT_ALLOWED, NOT_ALLOWED, NOT_FOUND, NO_TOKEN, NO_SCOPE],
    "users/{id}/followed-by": [OK, OK, NOT_ALLOWED, NOT_ALLOWED, NOT_FOUND, NO_TOKEN, NO_SCOPE],
    "users/{id}/relationship": [OK, OK, OK, OK, NOT_FOUND, NO_TOKEN, NO_SCOPE],
    "users/self/requested-by": [OK, OK, OK, OK, OK, NO_TOKEN, NO_SCOPE],
    "users/search?q={username}": [OK, OK, OK, OK, OK, NO_TOKEN, NO_SCOPE],
}


def cell(response: requests.Response) -> str:
    body = response.json()
    assert body["meta"]["code"] == response.status_code, body
    if response.status_code == 200:
        return OK
    return f"{response.status_code} {body['meta']['error_type']}"


def test_private_account_matrix(signup: Any, healthy_stack: Stack, http: requests.Session) -> None:
    owner = signup("owner", private=True)
    follower, requester, stranger, blocked = (
        signup(r) for r in ("follower", "requester", "stranger", "blocked")
    )
    follower.act(owner, "follow")
    owner.act(follower, "approve")
    requester.act(owner, "follow")
    blocked.act(owner, "follow")
    owner.act(blocked, "approve")
    owner.act(blocked, "block")  # a former follower, now blocked
    owner.act(stranger, "follow")  # the owner follows someone: their follows list is not empty
    no_scope = stranger.with_token(scope="comments")
    tokens = [
        owner.token,
        follower.token,
        requester.token,
        stranger.token,
        blocked.token,
        None,
        no_scope.token,
    ]

    got: dict[str, list[str]] = {}
    listed: dict[tuple[str, str], list[str]] = {}
    for template in PRIVATE_OWNER:
        path = template.format(id=owner.id, username=owner.username)
        got[template] = []
        for role, token in zip(ROLES, tokens, strict=True):
            params = {"access_token": token} if token else {}
            response = http.get(f"{healthy_stack.api}/v1/{path}", params=params, timeout=15)
            got[template].append(cell(response))
            if response.status_code == 200 and isinstance(response.json()["data"], list):
                listed[(template, role)] = [u["id"] for u in response.json()["data"]]
    assert got == PRIVATE_OWNER

    # What the allowed lists hold: the approved follower only, never the requester or the blocked.
    assert listed[("users/{id}/followed-by", "owner")] == [follower.id]
    assert listed[("users/{id}/followed-by", "follower")] == [follower.id]
    assert listed[("users/{id}/follows", "owner")] == [stranger.id]
    assert listed[("users/self/requested-by", "owner")] == [requester.id]
    # Search: the profile is findable by everyone but the user it blocks.
    for role in ["owner", "follower", "requester", "stranger"]:
        assert listed[("users/search?q={username}", role)] == [owner.id], role
    assert listed[("users/search?q={username}", "blocked")] == []


def test_public_account_content_is_hidden_only_across_a_block(signup: Any) -> None:
    owner, reader, blocker = signup("public"), signup("reader"), signup("blocker")
    reader.act(owner, "follow")
    assert [u["id"] for u in blocker.data(f"users/{owner.id}/followed-by")] == [reader.id]
    blocker.act(owner, "follow")
    blocker.act(reader, "block")
    # A list shown to a user leaves out whoever is on the other side of a block with them.
    assert [u["id"] for u in blocker.data(f"users/{owner.id}/followed-by")] == [blocker.id]
    assert [u["id"] for u in reader.data(f"users/{owner.id}/followed-by")] == [reader.id]
    assert len(owner.data(f"users/{owner.id}/followed-by")) == 2
    # Across the block, neither sees the other's content.
    assert cell(blocker.get(f"users/{reader.id}/follows")) == NOT_ALLOWED
    assert cell(reader.get(f"users/{blocker.id}/follows")) == NOT_FOUND
