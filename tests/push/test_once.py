"""One like or comment, one push: a retried like or comment job (run again, same args) pushes nothing more."""

import time
from typing import Any

from feeds.jobs import Commented, MediaLiked
from photos.models import Like
from sharding.routing import shard_for_id
from tests.conftest import Stack, wait_for
from tests.photos.images import jpeg
from tests.push.conftest import device_token, pushes_to, register, wait_for_pushes
from workers.submit import submit_job_rollback_unsafe


def already_had_it(stack: Stack, notification: str, *, count: int) -> bool:
    """Wait until workers logged `count` pushes of `notification` that found every device reached."""

    def seen() -> bool | None:
        log = (stack.log / "worker.log").read_text()
        return log.count(f" {notification}: every device already had it") >= count or None

    return wait_for(seen, timeout=30)


def test_a_retried_like_job_pushes_once(signup: Any, stack: Stack) -> None:
    kevin, mike = signup("kevin"), signup("mike")
    token = device_token()
    register(mike, token)
    media = mike.post_photo(jpeg(200, 200))
    media_id = int(media["id"].partition("_")[0])
    assert kevin.post(f"media/{media['id']}/likes").status_code == 200
    wait_for_pushes(stack, token)
    with shard_for_id(media_id):
        like_id = Like.objects.get(media_id=media_id, user_id=int(kevin.id)).id
    job = MediaLiked(media_id=media_id, user_id=int(kevin.id), owner_id=int(mike.id), like_id=like_id)
    for _ in range(2):  # the job's retries after a failure past its push, racing each other
        submit_job_rollback_unsafe(job)
    already_had_it(stack, f"like:like:{media_id}:{kevin.id}:{like_id}:{mike.id}", count=2)
    assert len(pushes_to(stack, token)) == 1
    news = [e for e in mike.data("users/self/news/you") if e.get("type") == "like"]
    assert len(news) == 1

    # A like after an unlike is a new event: it is pushed again.
    assert kevin.delete(f"media/{media['id']}/likes").status_code == 200
    assert kevin.post(f"media/{media['id']}/likes").status_code == 200
    wait_for_pushes(stack, token, count=2)


def test_a_retried_comment_job_pushes_once(signup: Any, stack: Stack) -> None:
    kevin, mike = signup("kevin"), signup("mike")
    token = device_token()
    register(mike, token)
    media = mike.post_photo(jpeg(200, 200))
    media_id = int(media["id"].partition("_")[0])
    comment = kevin.post(f"media/{media['id']}/comments", text="lovely").json()["data"]
    wait_for_pushes(stack, token)
    job = Commented(
        media_id=media_id, comment_id=int(comment["id"]), user_id=int(kevin.id), owner_id=int(mike.id)
    )
    for _ in range(2):
        submit_job_rollback_unsafe(job)
    already_had_it(stack, f"comment:comment:{comment['id']}:{mike.id}", count=2)
    time.sleep(0.5)  # nothing more is on its way
    assert len(pushes_to(stack, token)) == 1
