"""Counters equal their rows after storms of concurrent writes through nginx (bounded: a few seconds each)."""

import dataclasses
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import requests

from photos.models import Comment, Like, Media
from relationships.models import Edge, Kind
from sharding.routing import shard_for_id, shard_for_user
from tests.photos.images import jpeg
from tests.v1 import Account
from users.models import User

DEADLINE_S = 20.0


def own_session(account: Account) -> Account:
    """The same account on its own connection pool: threads must not share one session."""
    return dataclasses.replace(account, http=requests.Session())


def storm(jobs: list[Callable[[], requests.Response]], *, workers: int = 16) -> list[int]:
    """Run every job at once (bounded by DEADLINE_S); return the status codes."""
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        statuses = [future.result().status_code for future in [pool.submit(job) for job in jobs]]
    assert time.monotonic() - started < DEADLINE_S
    assert all(status < 500 for status in statuses), statuses
    return statuses


def media_row(media_id: int) -> tuple[int, int, int, int]:
    """Return (like_count, likes, comment_count, comments) as the database has them."""
    with shard_for_id(media_id):
        media = Media.objects.get(id=media_id)
        likes = Like.objects.filter(media_id=media_id).count()
        comments = Comment.objects.filter(media_id=media_id).count()
    return media.like_count, likes, media.comment_count, comments


def test_same_user_unlike_storm_leaves_the_count_exact(signup: Any) -> None:
    owner, fans = signup("owner"), [signup("fan") for _ in range(3)]
    media = owner.post_photo(jpeg(300, 300))
    media_id = int(media["id"].partition("_")[0])
    for fan in fans[1:]:
        assert fan.post(f"media/{media['id']}/likes").status_code == 200
    liker = own_session(fans[0])
    for _ in range(5):
        assert liker.post(f"media/{media['id']}/likes").status_code == 200
        storm(
            [lambda: own_session(liker).delete(f"media/{media['id']}/likes") for _ in range(30)], workers=30
        )
    seen = owner.data(f"media/{media['id']}")
    assert seen["likes"]["count"] == 2
    assert {u["id"] for u in owner.data(f"media/{media['id']}/likes")} == {f.id for f in fans[1:]}
    assert media_row(media_id)[:2] == (2, 2)


def test_like_unlike_storm_by_many_users(signup: Any) -> None:
    owner = signup("owner")
    fans = [own_session(signup("fan")) for _ in range(6)]
    media = owner.post_photo(jpeg(300, 300))
    media_id = int(media["id"].partition("_")[0])
    rng = random.Random(13)
    jobs: list[Callable[[], requests.Response]] = []
    for _ in range(120):
        fan = rng.choice(fans)
        if rng.random() < 0.5:
            jobs.append(partial(fan.post, f"media/{media['id']}/likes"))
        else:
            jobs.append(partial(fan.delete, f"media/{media['id']}/likes"))
    storm(jobs)
    like_count, likes, _, _ = media_row(media_id)
    assert like_count == likes
    assert owner.data(f"media/{media['id']}")["likes"]["count"] == likes
    assert len(owner.data(f"media/{media['id']}/likes")) == likes


def test_comment_and_delete_storm(signup: Any) -> None:
    owner = own_session(signup("owner"))
    fans = [own_session(signup("fan")) for _ in range(4)]
    media = owner.post_photo(jpeg(300, 300))
    media_id = int(media["id"].partition("_")[0])
    storm(
        [partial(fan.post, f"media/{media['id']}/comments", text=f"c{i}") for i in range(8) for fan in fans]
    )
    comments = owner.data(f"media/{media['id']}/comments")
    assert len(comments) == media_row(media_id)[3] == 32
    # Each comment deleted by its author and by the owner at once, several times over: one succeeds.
    by_author = {fan.id: fan for fan in fans}
    jobs: list[Callable[[], requests.Response]] = []
    for comment in comments[:20]:
        path = f"media/{media['id']}/comments/{comment['id']}"
        author = by_author[comment["from"]["id"]]
        jobs += [partial(author.delete, path), partial(owner.delete, path)] * 2
    jobs += [partial(fan.post, f"media/{media['id']}/comments", text="more") for fan in fans]
    statuses = storm(jobs)
    assert statuses.count(200) == 20 + len(fans)
    _, _, comment_count, rows = media_row(media_id)
    assert comment_count == rows == 32 - 20 + len(fans)
    assert owner.data(f"media/{media['id']}")["comments"]["count"] == rows
    assert len(owner.data(f"media/{media['id']}/comments")) == rows


def follow_counts(user_id: int) -> tuple[int, int, int, int]:
    """Return (follows_count, follows edges, followed_by_count, followed_by edges)."""
    user = User.objects.get(id=user_id)
    with shard_for_user(user_id):
        follows = Edge.objects.filter(user_id=user_id, kind=Kind.FOLLOWS).count()
        followed_by = Edge.objects.filter(user_id=user_id, kind=Kind.FOLLOWED_BY).count()
    return user.follows_count, follows, user.followed_by_count, followed_by


def test_follow_unfollow_storm(signup: Any) -> None:
    star = own_session(signup("star"))
    shy = own_session(signup("shy", private=True))
    fans = [own_session(signup("fan")) for _ in range(5)]
    rng = random.Random(7)
    jobs: list[Callable[[], requests.Response]] = []
    for _ in range(100):
        fan, target = rng.choice(fans), rng.choice([star, shy])
        action = rng.choice(["follow", "follow", "unfollow"])
        jobs.append(partial(fan.post, f"users/{target.id}/relationship", action=action))
    for fan in fans:  # the private account answers requests while they arrive
        for action in ("approve", "ignore", "block"):
            jobs.append(partial(shy.post, f"users/{fan.id}/relationship", action=action))
    rng.shuffle(jobs)
    storm(jobs)
    for account in [star, shy, *fans]:
        follows_count, follows, followed_by_count, followed_by = follow_counts(int(account.id))
        assert (follows_count, followed_by_count) == (follows, followed_by), account.username
        counts = account.data(f"users/{account.id}")["counts"]
        assert (counts["follows"], counts["followed_by"]) == (follows, followed_by)
