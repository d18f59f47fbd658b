"""Follow, requests, blocks, lists and their counts, end to end through nginx and both shards."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from relationships.models import Edge
from sharding.routing import shard_for_user
from tests.conftest import Stack
from tests.v1 import Account, error
from users.models import User


def ids(users: list[dict[str, Any]]) -> list[str]:
    return [user["id"] for user in users]


def counts(account: Account) -> dict[str, int]:
    result: dict[str, int] = account.data("users/self")["counts"]
    return result


def edges(user_id: str) -> set[tuple[int, str]]:
    with shard_for_user(int(user_id)):
        return set(Edge.objects.filter(user_id=int(user_id)).values_list("other_id", "kind"))


def test_follow_and_unfollow_a_public_account(signup: Any) -> None:
    alice, bob = signup("alice"), signup("bob")
    assert alice.act(bob, "follow") == {
        "outgoing_status": "follows",
        "incoming_status": "none",
        "target_user_is_private": False,
    }
    assert bob.data(f"users/{alice.id}/relationship") == {
        "outgoing_status": "none",
        "incoming_status": "followed_by",
        "target_user_is_private": False,
    }
    # Stored twice: on alice's shard and on bob's.
    assert edges(alice.id) == {(int(bob.id), "follows")}
    assert edges(bob.id) == {(int(alice.id), "followed_by")}
    assert ids(alice.data("users/self/follows")) == [bob.id]
    assert ids(alice.data(f"users/{bob.id}/followed-by")) == [alice.id]
    assert (counts(alice)["follows"], counts(bob)["followed_by"]) == (1, 1)

    assert alice.act(bob, "follow")["outgoing_status"] == "follows"  # idempotent: counted once
    assert counts(bob)["followed_by"] == 1

    assert alice.act(bob, "unfollow")["outgoing_status"] == "none"
    assert edges(alice.id) == edges(bob.id) == set()
    assert (counts(alice)["follows"], counts(bob)["followed_by"]) == (0, 0)
    assert alice.data("users/self/follows") == []


def test_private_account_requests_approve_and_ignore(signup: Any) -> None:
    carol = signup("carol", private=True)
    dave, erin = signup("dave"), signup("erin")
    assert dave.act(carol, "follow") == {
        "outgoing_status": "requested",
        "incoming_status": "none",
        "target_user_is_private": True,
    }
    erin.act(carol, "follow")
    # Pending: nothing of carol's is visible, and nothing is counted yet.
    assert error(dave.get(f"users/{carol.id}/followed-by")) == (400, "APINotAllowedError")
    assert counts(carol)["followed_by"] == 0
    assert set(ids(carol.data("users/self/requested-by"))) == {dave.id, erin.id}
    assert carol.data(f"users/{dave.id}/relationship")["incoming_status"] == "requested_by"

    assert carol.act(dave, "approve")["incoming_status"] == "followed_by"
    assert carol.act(erin, "ignore")["incoming_status"] == "none"
    assert ids(carol.data("users/self/requested-by")) == []
    assert ids(dave.data(f"users/{carol.id}/followed-by")) == [dave.id]
    assert dave.data(f"users/{carol.id}/relationship")["outgoing_status"] == "follows"
    assert erin.data(f"users/{carol.id}/relationship")["outgoing_status"] == "none"
    assert error(erin.get(f"users/{carol.id}/follows")) == (400, "APINotAllowedError")
    assert counts(carol)["followed_by"] == 1
    # Approving someone who never asked is refused, naming why.
    refused = carol.post(f"users/{erin.id}/relationship", action="approve")
    assert error(refused) == (400, "APIInvalidParametersError")
    assert "not requested" in refused.json()["meta"]["error_message"]


def test_block_removes_both_edges_and_hides_each_from_the_other(signup: Any) -> None:
    frank, gina = signup("frank"), signup("gina")
    frank.act(gina, "follow")
    gina.act(frank, "follow")
    assert counts(frank) == counts(gina) == {"media": 0, "follows": 1, "followed_by": 1}

    assert frank.act(gina, "block") == {
        "outgoing_status": "none",
        "incoming_status": "blocked_by_you",
        "target_user_is_private": False,
    }
    assert edges(frank.id) == {(int(gina.id), "blocks")}
    assert edges(gina.id) == {(int(frank.id), "blocked_by")}
    assert counts(frank) == counts(gina) == {"media": 0, "follows": 0, "followed_by": 0}
    # The blocked user no longer finds the blocker, and cannot follow them.
    assert error(gina.get(f"users/{frank.id}")) == (404, "APINotFoundError")
    assert gina.data("users/search", q=frank.username) == []
    assert error(gina.post(f"users/{frank.id}/relationship", action="follow")) == (400, "APINotAllowedError")
    # The blocker sees the profile, not the content, and cannot follow before unblocking.
    assert error(frank.get(f"users/{gina.id}/follows")) == (400, "APINotAllowedError")
    assert error(frank.post(f"users/{gina.id}/relationship", action="follow")) == (400, "APINotAllowedError")

    assert frank.act(gina, "unblock")["incoming_status"] == "none"
    assert gina.data(f"users/{frank.id}")["username"] == frank.username
    assert frank.act(gina, "follow")["outgoing_status"] == "follows"


def test_follower_pages_follow_next_url_as_given(signup: Any, http: requests.Session) -> None:
    star = signup("star")
    fans = [signup("fan") for _ in range(5)]
    for fan in fans:
        fan.act(star, "follow")
    first = star.get("users/self/followed-by", count=2)
    seen = ids(first.json()["data"])
    url = first.json()["pagination"]["next_url"]
    assert urlsplit(url).scheme == "http"
    query = parse_qs(urlsplit(url).query)
    assert (query["access_token"], query["count"]) == ([star.token], ["2"])
    pages = 1
    while url:
        page = http.get(url, timeout=10).json()
        seen += ids(page["data"])
        url = page["pagination"].get("next_url")
        pages += 1
    assert pages == 3
    assert seen == [fan.id for fan in reversed(fans)]  # newest first, each once


def test_bad_relationship_requests(signup: Any) -> None:
    hank, ida = signup("hank"), signup("ida")
    invalid = (400, "APIInvalidParametersError")
    assert error(hank.post(f"users/{ida.id}/relationship", action="poke")) == invalid
    assert error(hank.post(f"users/{ida.id}/relationship")) == invalid
    assert error(hank.post(f"users/{hank.id}/relationship", action="follow")) == invalid
    assert error(hank.post("users/99999999999/relationship", action="follow")) == (404, "APINotFoundError")
    assert error(hank.get("users/self/follows", count="lots")) == invalid
    assert error(hank.get("users/self/follows", cursor="-1")) == invalid
    assert edges(hank.id) == set()


def test_counts_stay_exact_under_concurrent_follows_and_unfollows(signup: Any) -> None:
    target = signup("popular")
    fans = [signup("racer") for _ in range(6)]

    def churn(fan: Account) -> None:
        for action in ["follow", "follow", "unfollow", "follow", "unfollow", "follow"]:
            fan.act(target, action)

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(churn, fans))
        # The same pair from several threads at once: one edge, counted once.
        list(pool.map(lambda _: fans[0].act(target, "follow"), range(6)))

    row = User.objects.get(id=int(target.id))
    assert row.followed_by_count == 6 == len(edges(target.id))
    assert counts(target)["followed_by"] == 6
    for fan in fans:
        assert User.objects.get(id=int(fan.id)).follows_count == 1
        assert edges(fan.id) == {(int(target.id), "follows")}


def test_relationship_changes_need_the_relationships_scope(signup: Any, stack: Stack) -> None:
    jack, kim = signup("jack"), signup("kim")
    limited = jack.with_token(scope="basic")
    assert limited.data(f"users/{kim.id}/relationship")["outgoing_status"] == "none"
    refused = limited.post(f"users/{kim.id}/relationship", action="follow")
    assert error(refused) == (400, "OAuthPermissionsException")
    assert "relationships" in refused.json()["meta"]["error_message"]
    assert edges(jack.id) == set()
