"""News: the "you" and "following" lists, written by the workers, read through nginx."""

from typing import Any

from feeds import news as raw_news
from tests.conftest import wait_for
from tests.feeds.test_feed import follow, post
from tests.v1 import Account


def news(account: Account, tab: str, **params: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = account.data(f"users/self/news/{tab}", **params)
    return entries


def has(account: Account, tab: str, **match: Any) -> dict[str, Any] | None:
    """The newest entry of `tab` whose fields include `match` (user= compares usernames)."""
    username = match.pop("user", None)
    for entry in news(account, tab, count=100):
        if username is not None and entry["user"]["username"] != username:
            continue
        if all(entry.get(key) == value for key, value in match.items()):
            return entry
    return None


def test_likes_comments_and_mentions_reach_you(signup: Any) -> None:
    owner, fan = signup("owner"), signup("fan")
    media = post(owner, "the pier")
    assert fan.post(f"media/{media}/likes").status_code == 200
    assert (
        fan.post(f"media/{media}/comments", text=f"lovely, @{owner.username} and @{fan.username}").status_code
        == 200
    )

    like = wait_for(lambda: has(owner, "you", type="like", user=fan.username))
    assert like["media"]["id"] == media
    assert like["media"]["images"]["thumbnail"]["width"] == 150
    assert like["media"]["link"].endswith("/")
    comment = wait_for(lambda: has(owner, "you", type="comment", user=fan.username))
    assert comment["text"].startswith("lovely")
    mention = wait_for(lambda: has(owner, "you", type="mention", user=fan.username))
    assert mention["comment_id"] == comment["comment_id"]
    assert int(like["created_time"]) > 1_700_000_000
    assert news(fan, "you") == []  # nothing about yourself


def test_follows_and_requests_reach_you_and_requests_leave_when_answered(signup: Any) -> None:
    public, private, fan = signup("public"), signup("private", private=True), signup("fan")
    follow(fan, public)
    follow(fan, private)
    assert wait_for(lambda: has(public, "you", type="follow", user=fan.username))
    assert wait_for(lambda: has(private, "you", type="follow_request", user=fan.username))
    follow(private, fan, "approve")
    assert wait_for(lambda: has(private, "you", type="follow", user=fan.username))
    wait_for(lambda: has(private, "you", type="follow_request") is None)


def test_what_the_people_you_follow_do(signup: Any) -> None:
    reader, friend, stranger = signup("reader"), signup("friend"), signup("stranger")
    follow(reader, friend)
    media = post(stranger, "street")
    assert friend.post(f"media/{media}/likes").status_code == 200
    follow(friend, stranger)
    liked = wait_for(lambda: has(reader, "following", type="like", user=friend.username))
    assert liked["media"]["id"] == media
    assert liked["media_owner"]["username"] == stranger.username
    followed = wait_for(lambda: has(reader, "following", type="follow", user=friend.username))
    assert followed["target_user"]["username"] == stranger.username


def test_a_private_photo_liked_by_a_friend_stays_private(signup: Any) -> None:
    reader, friend, secret = signup("reader"), signup("friend"), signup("secret", private=True)
    follow(reader, friend)
    follow(friend, secret)
    follow(secret, friend, "approve")
    media = post(secret, "only friends")
    assert friend.post(f"media/{media}/likes").status_code == 200

    # The like reaches the friend's followers' lists, but the reader may not see the photo.
    def stored() -> list[raw_news.NewsEntry]:
        return [
            e for e, _ in raw_news.page(user_id=int(reader.id), tab="following", before_ms=None, count=10)
        ]

    wait_for(lambda: any(e.type == "like" for e in stored()))
    assert has(reader, "following", type="like") is None
    assert has(friend, "you", type="like") is None


def test_news_pages_with_a_cursor(signup: Any) -> None:
    owner = signup("owner")
    fans = [signup("fan") for _ in range(3)]
    for fan in fans:
        follow(fan, owner)
    wait_for(lambda: len(news(owner, "you")) == 3)
    first = owner.get("users/self/news/you", count=2).json()
    assert [e["user"]["username"] for e in first["data"]] == [f.username for f in fans[::-1][:2]]
    rest = news(owner, "you", cursor=first["pagination"]["next_cursor"])
    assert [e["user"]["username"] for e in rest] == [fans[0].username]
    bad = owner.get("users/self/news/you", cursor="yesterday")
    assert bad.status_code == 400
