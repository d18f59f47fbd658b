"""A block is mutual invisibility: neither user sees the other anywhere a user appears (through nginx)."""

from typing import Any

from tests.conftest import wait_for
from tests.feeds.test_feed import follow, post
from tests.feeds.test_news import has
from tests.v1 import Account, error


def ids(users: list[dict[str, Any]]) -> set[str]:
    return {user["id"] for user in users}


def people_on(viewer: Account, media: str) -> tuple[set[str], set[str], set[str], set[str]]:
    """Return who the viewer sees among a media's likers and commenters: embedded, then the full lists."""
    seen = viewer.data(f"media/{media}")
    return (
        ids(seen["likes"]["data"]),
        {comment["from"]["id"] for comment in seen["comments"]["data"]},
        ids(viewer.data(f"media/{media}/likes")),
        {comment["from"]["id"] for comment in viewer.data(f"media/{media}/comments")},
    )


def test_a_block_hides_each_user_from_the_other_everywhere(signup: Any) -> None:
    owner, kevin, nina, carol = signup("owner"), signup("kevin"), signup("nina"), signup("carol")
    tag = f"pier{nina.id}"
    media = post(owner)  # no caption: it would be the owner's first comment
    nina_media = post(nina, f"sunset #{tag}")
    for fan in (kevin, nina, carol):
        assert fan.post(f"media/{media}/likes").status_code == 200
        assert fan.post(f"media/{media}/comments", text=f"nice, from {fan.username}").status_code == 200
    # kevin's news: nina liked his photo (you); carol, whom he follows, follows nina and likes her photo.
    kevin_media = post(kevin)
    assert nina.post(f"media/{kevin_media}/likes").status_code == 200
    follow(kevin, carol)
    follow(carol, nina)
    assert carol.post(f"media/{nina_media}/likes").status_code == 200
    wait_for(lambda: has(kevin, "you", type="like", user=nina.username))
    wait_for(lambda: has(kevin, "following", type="like", user=carol.username))
    wait_for(lambda: has(kevin, "following", type="follow", user=carol.username))
    everyone = {kevin.id, nina.id, carol.id}
    assert people_on(kevin, media) == (everyone, everyone, everyone, everyone)

    follow(nina, kevin, "block")
    for viewer, other in ((kevin, nina), (nina, kevin)):  # both ways
        assert people_on(viewer, media) == ({viewer.id, carol.id},) * 4
        assert other.id not in ids(viewer.data("users/search", q=other.username))
    assert error(kevin.get(f"media/{nina_media}")) == (404, "APINotFoundError")  # the blocked
    assert error(nina.get(f"media/{kevin_media}")) == (
        400,
        "APINotAllowedError",
    )  # the blocker, as on profiles
    assert people_on(carol, media) == (everyone, everyone, everyone, everyone)
    assert nina_media not in {m["id"] for m in kevin.data(f"tags/{tag}/media/recent")}
    assert has(kevin, "you", user=nina.username) is None
    assert not [
        e
        for e in kevin.data("users/self/news/following", count=100)
        if e.get("media", {}).get("id") == nina_media
    ]
    assert not [
        e
        for e in kevin.data("users/self/news/following", count=100)
        if e.get("target_user", {}).get("id") == nina.id
    ]
    # Unblocked, each sees the other again.
    follow(nina, kevin, "unblock")
    assert people_on(kevin, media) == (everyone, everyone, everyone, everyone)
