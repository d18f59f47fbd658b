"""The job outbox through the real stack: with gearmand stopped or black-holed,
writes are acknowledged quickly, their jobs wait as rows on the write's
database, and the workers' relay drains them once gearmand answers again."""

import threading
import time
import uuid
from typing import Any

import pytest
from django.db import connections, transaction

from feeds import store
from tests.conftest import Stack, wait_for
from tests.photos.images import jpeg
from workers import functions
from workers.jobs import new_payload
from workers.outbox import TABLE, outbox_add, outbox_databases, outbox_remove
from workers.payloads import Ping
from workers.submit import submit_job_on_commit

pytestmark = pytest.mark.disruptive


def outbox_rows(needle: str) -> list[tuple[str, str]]:
    """(database alias, function) of every outbox row whose payload mentions `needle`."""
    found = []
    for alias in outbox_databases():
        with connections[alias].cursor() as cursor:
            cursor.execute(f"SELECT function FROM {TABLE} WHERE payload LIKE %s", [f"%{needle}%"])
            found += [(alias, function) for (function,) in cursor.fetchall()]
    return found


def timed(call: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = call(*args, **kwargs)
    return result, time.monotonic() - started


def test_a_job_committed_while_gearmand_is_down_waits_in_the_outbox(stack: Stack) -> None:
    token = uuid.uuid4().hex
    with stack.stopped("gearmand"):
        with transaction.atomic():
            submit_job_on_commit(Ping(token=token))
        assert outbox_rows(token) == [("default", functions.PING)]
    wait_for(lambda: not outbox_rows(token), timeout=60, interval=0.5)


def test_a_taken_job_is_deleted_without_waiting_for_the_standby(stack: Stack) -> None:
    """The row of a job gearmand took is deleted by an asynchronous commit: with the synchronous
    standby stopped (every other commit waits for it), the delete still returns at once, and
    the next transaction on that connection waits for the standby again."""
    token = uuid.uuid4().hex
    with transaction.atomic():
        payload = new_payload(Ping(token=token).to_args())
        row_id = outbox_add(using="default", function=functions.PING, payload=payload)
    deleted = threading.Event()

    def delete() -> None:
        outbox_remove(using="default", row_id=row_id)
        connections["default"].close()
        deleted.set()

    with stack.stopped("postgres-standby"):
        thread = threading.Thread(target=delete, daemon=True)
        thread.start()
        assert deleted.wait(timeout=10), "the delete waited for the stopped standby"
        assert outbox_rows(token) == []
        with connections["default"].cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone() == ("on",)  # the setting ended with the delete's own transaction


def test_a_rolled_back_job_leaves_no_outbox_row(stack: Stack) -> None:
    token = uuid.uuid4().hex

    def submit_then_fail() -> None:
        with transaction.atomic():
            submit_job_on_commit(Ping(token=token))
            assert outbox_rows(token)  # written in the transaction...
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        submit_then_fail()
    assert outbox_rows(token) == []  # ...and gone with it


def test_writes_while_gearmand_is_down_are_acknowledged_and_their_jobs_run_later(
    stack: Stack, signup: Any
) -> None:
    author, fan, other = signup("ob_author"), signup("ob_fan"), signup("ob_other")
    fan.data("users/self/feed")  # a built feed: fan-out writes only built feeds
    fan.act(author, "follow")
    with stack.stopped("gearmand"):
        upload, upload_seconds = timed(author.upload, jpeg(200, 200), caption="while gearmand is down")
        assert upload.status_code == 201, upload.text
        media_id = upload.json()["data"]["id"]
        like, like_seconds = timed(fan.post, f"media/{media_id}/likes")
        assert like.status_code == 200, like.text
        follow, follow_seconds = timed(other.post, f"users/{author.id}/relationship", action="follow")
        assert follow.status_code == 200, follow.text
        assert max(upload_seconds, like_seconds, follow_seconds) < 5
        bare = media_id.partition("_")[0]
        waiting = {function for _, function in outbox_rows(bare)}
        assert {functions.MEDIA_POSTED, functions.MEDIA_LIKED} <= waiting
        assert functions.RELATIONSHIP_CHANGED in {f for _, f in outbox_rows(f'"actor_id":{other.id}')}
        assert int(bare) not in store.feed_ids(int(fan.id))
    wait_for(lambda: int(bare) in store.feed_ids(int(fan.id)), timeout=60, interval=0.5)
    wait_for(lambda: not outbox_rows(bare), timeout=30, interval=0.5)


def test_a_black_holed_gearmand_costs_seconds_not_the_job(stack: Stack, signup: Any) -> None:
    author, fan = signup("bh_author"), signup("bh_fan")
    fan.data("users/self/feed")
    fan.act(author, "follow")
    with stack.black_holed("gearmand"):
        upload, seconds = timed(author.upload, jpeg(200, 200), caption="into the black hole")
        assert upload.status_code == 201, upload.text
        assert seconds < 8  # connect 1 s + submit 2 s, on a loaded machine
        bare = upload.json()["data"]["id"].partition("_")[0]
        assert functions.MEDIA_POSTED in {f for _, f in outbox_rows(bare)}
    wait_for(lambda: int(bare) in store.feed_ids(int(fan.id)), timeout=60, interval=0.5)
    wait_for(lambda: not outbox_rows(bare), timeout=30, interval=0.5)
