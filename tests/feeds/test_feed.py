"""The feed, end to end: posts fanned out by the workers into Redis, read through nginx."""

import io
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command

from feeds import store
from instagram import rediskeys
from instagram.redis_client import feed_primary, feed_redis, feed_shard_count, redis_primary
from tests.conftest import Stack, wait_for
from tests.photos.images import jpeg
from tests.v1 import Account


def follow(follower: Account, followee: Account, action: str = "follow") -> None:
    response = follower.post(f"users/{followee.id}/relationship", action=action)
    assert response.status_code == 200, response.text


def feed(account: Account, **params: Any) -> list[str]:
    return [media["id"] for media in account.data("users/self/feed", **params)]


def in_feed(account: Account, media_id: str) -> bool:
    return media_id in feed(account, count=100)


def stored(account: Account) -> list[int]:
    """The media ids fanned out into the account's feed in Redis (not the read path's merge)."""
    return store.feed_ids(int(account.id))


def post(account: Account, caption: str = "") -> str:
    media_id: str = account.post_photo(jpeg(200, 200), caption=caption)["id"]
    return media_id


def stored_all(account: Account, *media_ids: str) -> bool:
    return {bare(m) for m in media_ids} <= set(stored(account))


def open_and_follow(fan: Account, author: Account) -> None:
    feed(fan)
    follow(fan, author)


def opened(*accounts: Account) -> None:
    """Each account opens the app once: its feed is built (fan-out writes only built feeds)."""
    for account in accounts:
        feed(account)


def bare(media_id: str) -> int:
    return int(media_id.partition("_")[0])


def test_a_post_reaches_every_follower_and_its_author(signup: Any) -> None:
    author = signup("author")
    # More followers than one fan-out chunk (4 on the test stack): several jobs.
    followers = [signup("fan") for _ in range(3 * settings.FEED_FANOUT_CHUNK + 1)]
    feed(author)
    for fan in followers:
        feed(fan)  # each reads once: their feeds are built (empty)
        follow(fan, author)
    media_id = post(author, "sunset")
    for account in [author, *followers]:
        wait_for(partial(stored_all, account, media_id), timeout=20)
        assert feed(account)[0] == media_id
    progress = redis_primary().hgetall(rediskeys.fanout_progress(bare(media_id)))
    assert int(progress[b"chunks"]) == 4
    assert int(progress[b"followers"]) == len(followers)


def test_the_feed_is_newest_first_and_pages_by_id(signup: Any) -> None:
    author, reader = signup("author"), signup("reader")
    opened(reader)
    follow(reader, author)
    posted = [post(author, f"photo {i}") for i in range(5)]
    wait_for(lambda: len(stored(reader)) == 5, timeout=20)
    first = reader.get("users/self/feed", count=2).json()
    assert [m["id"] for m in first["data"]] == posted[::-1][:2]
    next_max_id = first["pagination"]["next_max_id"]
    assert next_max_id == str(bare(posted[3]))
    assert "max_id=" in first["pagination"]["next_url"]
    second = feed(reader, count=2, max_id=next_max_id)
    third = reader.get("users/self/feed", count=2, max_id=str(bare(second[-1]))).json()
    assert second == posted[::-1][2:4]
    assert [m["id"] for m in third["data"]] == posted[:1]
    assert "next_max_id" not in third["pagination"]
    assert feed(reader, min_id=posted[2]) == posted[::-1][:2]


def test_the_feed_media_objects_are_full_v1_media(signup: Any) -> None:
    author, reader = signup("author"), signup("reader")
    follow(reader, author)
    media_id = post(author, "hello #feed")
    assert reader.post(f"media/{media_id}/likes").status_code == 200
    item = wait_for(lambda: next(iter(reader.data("users/self/feed")), None), timeout=20)
    assert item["id"] == media_id
    assert item["user"]["username"] == author.username
    assert item["user_has_liked"] is True
    assert item["likes"]["count"] == 1
    assert item["tags"] == ["feed"]
    assert set(item["images"]) == {"thumbnail", "low_resolution", "standard_resolution"}


def test_accounts_above_the_threshold_are_merged_at_read_time(signup: Any) -> None:
    celebrity = signup("celeb")
    fans = [signup("fan") for _ in range(settings.FEED_FANOUT_MAX_FOLLOWERS + 1)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(partial(open_and_follow, author=celebrity), fans))
    opened(celebrity)
    media_id = post(celebrity, "to millions")
    own = wait_for(lambda: bare(media_id) in stored(celebrity), timeout=20)
    assert own
    wait_for(lambda: int(celebrity.id) in store.celebrities(), timeout=20)
    for fan in fans[:3]:
        assert bare(media_id) not in stored(fan)  # not fanned out...
        assert feed(fan)[0] == media_id  # ...yet in the feed
    outsider = signup("outsider")
    assert media_id not in feed(outsider)


def test_a_readers_celebrities_are_read_with_the_feed_and_follow_their_follows_at_once(signup: Any) -> None:
    """Which celebrities a reader follows is kept beside their feed (not asked of PostgreSQL on every
    read): an unfollow, a follow again and a block each show in the very next read."""
    celebrity, fan = signup("celeb"), signup("fan")
    media_id = post(celebrity, "merged at read time")
    store.mark_celebrity(int(celebrity.id))
    opened(fan)
    follow(fan, celebrity)
    assert feed(fan)[0] == media_id
    kept = feed_redis(int(fan.id)).get(rediskeys.followed_celebrities(int(fan.id)))
    assert store.followed_among(kept, store.celebrities()) == [int(celebrity.id)]
    assert feed(fan)[0] == media_id  # read from what was kept

    follow(fan, celebrity, "unfollow")
    assert media_id not in feed(fan)
    follow(fan, celebrity)
    assert feed(fan)[0] == media_id
    celebrity.post(f"users/{fan.id}/relationship", action="block")
    assert media_id not in feed(fan)

    # A new celebrity changes the set every kept copy was read against: read afresh.
    other = signup("celeb")
    follow(fan, other)
    feed(fan)  # kept: the fan follows no celebrity
    store.mark_celebrity(int(other.id))
    their_media = post(other, "just became one")  # not fanned out: merged at read time
    assert feed(fan)[0] == their_media


def test_unfollow_block_and_delete_take_media_out_of_feeds(signup: Any) -> None:
    author, leaver, blocked, stayer = signup("author"), signup("leaver"), signup("blocked"), signup("stayer")
    opened(author, leaver, blocked, stayer)
    for account in (leaver, blocked, stayer):
        follow(account, author)
    kept, deleted = post(author, "kept"), post(author, "deleted later")
    for account in (leaver, blocked, stayer):
        wait_for(partial(stored_all, account, kept, deleted), timeout=20)

    follow(leaver, author, "unfollow")
    follow(author, blocked, "block")
    assert author.delete(f"media/{deleted}").status_code == 200
    wait_for(lambda: not set(stored(leaver)) & {bare(kept), bare(deleted)}, timeout=20)
    wait_for(lambda: not set(stored(blocked)) & {bare(kept), bare(deleted)}, timeout=20)
    wait_for(lambda: bare(deleted) not in stored(stayer), timeout=20)
    assert feed(leaver) == []
    assert feed(blocked) == []
    assert feed(stayer) == [kept]
    assert feed(author) == [kept]


def test_private_media_reach_approved_followers_only(signup: Any) -> None:
    owner = signup("private", private=True)
    approved, pending = signup("approved"), signup("pending")
    opened(approved, pending)
    follow(approved, owner)
    follow(pending, owner)
    follow(owner, approved, "approve")
    before = post(owner, "for friends")
    wait_for(lambda: bare(before) in stored(approved), timeout=20)
    assert feed(approved) == [before]
    assert feed(pending) == []
    # Approving later brings the owner's recent media in (backfill).
    follow(owner, pending, "approve")
    wait_for(lambda: bare(before) in stored(pending), timeout=20)
    assert feed(pending) == [before]


def test_a_missing_feed_is_rebuilt_from_postgresql_on_first_read(signup: Any) -> None:
    author, other, reader = signup("author"), signup("other"), signup("reader")
    opened(reader)
    follow(reader, author)
    follow(reader, other)
    posted = [post(author, "a"), post(other, "b"), post(reader, "mine"), post(author, "c")]
    wait_for(lambda: len(stored(reader)) == 4, timeout=20)
    store.drop(user_id=int(reader.id))  # evicted, expired, or Redis lost it
    assert feed(reader) == posted[::-1]
    assert sorted(stored(reader), reverse=True) == [bare(m) for m in posted[::-1]]


def test_feed_parameters_are_checked(signup: Any) -> None:
    reader = signup("reader")
    for params, problem in [
        ({"count": "-1"}, "count"),
        ({"count": "abc"}, "count"),
        ({"max_id": "x1"}, "max_id"),
        ({"min_id": "-5"}, "min_id"),
    ]:
        response = reader.get("users/self/feed", **params)
        assert response.status_code == 400, params
        assert problem in response.json()["meta"]["error_message"]


@pytest.mark.disruptive
def test_feeds_are_rebuilt_after_redis_loses_everything(signup: Any, stack: Stack) -> None:
    author, reader = signup("author"), signup("reader")
    opened(reader)
    follow(reader, author)
    posted = [post(author, "one"), post(author, "two")]
    wait_for(lambda: len(stored(reader)) == 2, timeout=20)
    for index in range(feed_shard_count()):
        feed_primary(index).flushall()
    redis_primary().flushall()
    assert stored(reader) == []
    assert feed(reader) == posted[::-1]
    assert feed(author) == posted[::-1]


@pytest.mark.disruptive
def test_a_worker_killed_mid_fan_out_and_a_gearmand_restart_lose_nothing(signup: Any, stack: Stack) -> None:
    author = signup("author")
    fans = [signup("fan") for _ in range(6 * settings.FEED_FANOUT_CHUNK)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(partial(open_and_follow, author=author), fans))
    with stack.stopped("worker:*"):
        media_id = post(author, "queued")  # the post job and nothing else waits in gearmand
        stack.ctl("restart", "gearmand")  # ...and survives its restart (libsqlite3 queue)
    # stack.stopped() started both workers again: kill one as it takes the chunk jobs.
    pid = int(stack.ctl("pid", "worker:worker-0"))
    wait_for(
        lambda: redis_primary().exists(rediskeys.fanout_progress(bare(media_id))), timeout=20, interval=0.005
    )
    os.killpg(pid, signal.SIGKILL)
    for fan in fans:
        wait_for(partial(stored_all, fan, media_id), timeout=30)
        assert feed(fan).count(media_id) == 1
    stack.start("worker:*")


def test_rebuild_feeds_command_rebuilds_the_feeds_named(
    signup: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    author, reader, idle = signup("author"), signup("reader"), signup("idle")
    opened(reader)
    follow(reader, author)
    follow(idle, author)
    posted = [post(author, "one"), post(author, "two")]
    wait_for(partial(stored_all, reader, *posted), timeout=20)
    store.drop(user_id=int(reader.id))
    out = io.StringIO()
    call_command("rebuild_feeds", reader.id, idle.id, stdout=out)
    assert "rebuilt 2 feed(s) with 4 entries" in out.getvalue()
    assert "rebuilding feeds: 2/2 (100%)" in capsys.readouterr().err  # the progress bar
    assert stored(reader) == [bare(m) for m in posted[::-1]]
    assert stored(idle) == [bare(m) for m in posted[::-1]]
    again = io.StringIO()
    call_command("rebuild_feeds", reader.id, "--missing", stdout=again)
    assert "rebuilt 0 feed(s)" in again.getvalue()
    assert "1 already built" in again.getvalue()


def test_reads_that_race_a_rebuild_each_answer_the_whole_feed(signup: Any) -> None:
    """The same user on several devices (or a client's retry) right after their feed expired: every
    read answers the rebuilt feed, none the empty one a rebuild under way holds."""
    author, reader = signup("author"), signup("reader")
    opened(reader)
    follow(reader, author)
    posted = [post(author, f"p{n}") for n in range(3)]
    wait_for(lambda: len(stored(reader)) == 3, timeout=20)
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(5):
            store.drop(user_id=int(reader.id))
            pages = list(pool.map(lambda _: feed(reader), range(4)))
            assert pages == [posted[::-1]] * 4
    assert not feed_redis(int(reader.id)).exists(rediskeys.feed_rebuilding(int(reader.id)))


def test_a_rebuild_that_never_stored_is_done_again_by_the_next_read(signup: Any) -> None:
    author, reader = signup("author"), signup("reader")
    opened(reader)
    follow(reader, author)
    media_id = post(author, "late")
    wait_for(lambda: stored(reader) == [bare(media_id)], timeout=20)
    store.drop(user_id=int(reader.id))
    store.mark_built(user_id=int(reader.id))  # a rebuild that died before storing: built, but empty
    assert feed(reader) == [media_id]
