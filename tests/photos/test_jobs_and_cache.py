"""After commit: the jobs reach a worker; the cached media cards change on every app server."""

from typing import Any

import requests

from instagram import rediskeys
from instagram.redis_client import redis_primary
from photos import photomap
from tests.conftest import Stack, wait_for
from tests.photos.images import jpeg


def news_types(account: Any) -> list[str]:
    return [entry["type"] for entry in account.data("users/self/news/you")]


def test_posting_submits_the_post_and_mention_jobs(signup: Any, stack: Stack) -> None:
    kevin, mike = signup("kevin"), signup("mike")
    media = kevin.post_photo(jpeg(300, 300), caption=f"with @{mike.username.upper()} and @nobody_here_at_all")
    media_id = int(media["id"].partition("_")[0])
    # The workers ran the post job (its fan-out record) and the mention job (mike's news).
    assert wait_for(lambda: redis_primary().hget(rediskeys.fanout_progress(media_id), "started"))
    assert wait_for(lambda: news_types(mike) == ["mention"])
    assert mike.post(f"media/{media['id']}/likes").status_code == 200
    assert wait_for(lambda: news_types(kevin) == ["like"])


def test_a_refused_upload_submits_nothing(signup: Any, stack: Stack) -> None:
    kevin = signup("kevin")
    before = (stack.log / "worker.log").read_text().count("instagram.media_posted.v1")
    assert kevin.upload(b"not a photo", caption="x").status_code == 400
    assert (stack.log / "worker.log").read_text().count("instagram.media_posted.v1") == before


def test_the_photo_map_knows_each_new_photo(signup: Any) -> None:
    kevin = signup("kevin")
    media_id = int(kevin.post_photo(jpeg(300, 300))["id"].partition("_")[0])
    assert photomap.owner_of(media_id) == int(kevin.id)


def test_likes_and_comments_are_seen_at_once_on_both_app_servers(signup: Any, stack: Stack) -> None:
    owner, fan = signup("owner"), signup("fan")
    media = owner.post_photo(jpeg(300, 300))

    def seen_by_each_app() -> list[dict[str, Any]]:
        return [
            requests.get(
                f"http://127.0.0.1:{port}/v1/media/{media['id']}",
                params={"access_token": owner.token},
                timeout=10,
            ).json()["data"]
            for port in stack.profile.apps
        ]

    assert [m["likes"]["count"] for m in seen_by_each_app()] == [0, 0]  # both now hold the card in memcached
    assert fan.post(f"media/{media['id']}/likes").status_code == 200
    assert fan.post(f"media/{media['id']}/comments", text="first!").status_code == 200
    for seen in seen_by_each_app():
        assert seen["likes"]["count"] == 1
        assert [u["id"] for u in seen["likes"]["data"]] == [fan.id]
        assert [c["text"] for c in seen["comments"]["data"]] == ["first!"]
