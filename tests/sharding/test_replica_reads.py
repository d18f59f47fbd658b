"""Lag-tolerant reads go to the standby; one's own writes are read from the primary."""

import contextvars
import logging
from collections.abc import Callable
from typing import TypeVar

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from photos.models import Media
from sharding import routing
from sharding.multiget import fetch_many
from sharding.routing import read_rows, shard_for_id, shard_for_user, user_shard
from tests.conftest import Stack, wait_for

T = TypeVar("T")


def in_fresh_context(function: Callable[[], T]) -> T:
    """Run `function` as a new request would: no context variables carried over."""
    return contextvars.Context().run(function)


def test_a_row_written_on_the_primary_is_read_from_the_standby(stack: Stack) -> None:
    with shard_for_user(12):
        media = Media.objects.create(user_id=12, caption="replicated")

    def read_from_replica() -> tuple[str, bool]:
        with shard_for_id(media.id, read_only=True) as context:
            return context.alias, Media.objects.filter(id=media.id).exists()

    def replicated() -> str | None:
        alias, exists = in_fresh_context(read_from_replica)
        return alias if exists else None

    assert wait_for(replicated, timeout=10).endswith("_replica")


def test_reads_right_after_ones_own_write_see_it() -> None:
    def write_then_read() -> tuple[str, str]:
        with shard_for_user(13):
            media = Media.objects.create(user_id=13, caption="mine")
        with shard_for_user(13, read_only=True) as context:
            return context.alias, Media.objects.get(id=media.id).caption

    alias, caption = in_fresh_context(write_then_read)
    assert (alias, caption) == ("shard0", "mine")

    def next_request_of_the_same_user() -> str:
        with shard_for_user(13, read_only=True) as context:
            return context.alias

    # Another request, on any app server, within the window: still the primary.
    assert in_fresh_context(next_request_of_the_same_user) == "shard0"


def test_other_users_read_from_the_standby() -> None:
    def read() -> str:
        with shard_for_user(14, read_only=True) as context:
            return context.alias

    assert in_fresh_context(read) == "shard0_replica"


@pytest.mark.disruptive
def test_reads_fall_back_to_the_primary_when_the_standby_is_down(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    def read() -> str:
        with shard_for_user(15, read_only=True) as context:
            Media.objects.filter(user_id=15).count()
            return context.alias

    with shard_for_user(16):  # not user 15: their own write would keep their reads on the primary
        media_id = Media.objects.create(user_id=16).id
    with stack.stopped("postgres-standby"), caplog.at_level(logging.WARNING, logger="sharding.routing"):
        routing._replica_down_until.clear()
        assert set(fetch_many(Media, [media_id], read_only=True)) == {media_id}
        assert "replica shard0_replica unreachable, reading a multi-get of Media" in caplog.text
        assert in_fresh_context(read) == "shard0"  # the multi-get's failure marked it down: no wait
        routing._replica_down_until.clear()
        assert in_fresh_context(read) == "shard0"
        assert "replica shard0_replica unreachable, reading shard 15" in caplog.text

    wait_for_the_standby()


def wait_for_the_standby() -> None:
    """Wait until a fresh request's read goes to the standby again (the next tests expect it)."""

    def read() -> str:
        with shard_for_user(15, read_only=True) as context:
            Media.objects.filter(user_id=15).count()
            return context.alias

    def replica_back() -> bool:
        routing._replica_down_until.clear()  # don't wait out REPLICA_RETRY_SECONDS here
        return in_fresh_context(read) == "shard0_replica"

    wait_for(replica_back, timeout=30, interval=0.5)


MEDIA_OF = f"SELECT id FROM {Media._meta.db_table} WHERE user_id = %s ORDER BY id"


def test_one_statement_reads_the_standby_with_no_probe_before_it(stack: Stack) -> None:
    with shard_for_user(17):
        media_id = Media.objects.create(user_id=17, caption="one statement").id

    def read() -> tuple[list[tuple[int, ...]], list[str]]:
        with CaptureQueriesContext(connections["shard0_replica"]) as seen:
            rows = read_rows(user_shard(17), MEDIA_OF, [17])
        return rows, [query["sql"] for query in seen.captured_queries]

    def replicated() -> list[str] | None:
        rows, statements = in_fresh_context(read)
        return statements if (media_id,) in rows else None

    # The statement alone, named with the shard's schema: no SELECT 1 before it.
    statements = wait_for(replicated, timeout=10)
    assert len(statements) == 1
    assert f'"shard_{user_shard(17):04d}"."{Media._meta.db_table}"' in statements[0]


@pytest.mark.disruptive
def test_one_statement_falls_back_to_the_primary_when_the_standby_is_down(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    with shard_for_user(18):
        media_id = Media.objects.create(user_id=18).id
    with stack.stopped("postgres-standby"), caplog.at_level(logging.WARNING, logger="sharding.routing"):
        routing._replica_down_until.clear()
        # The statement fails on the standby (twice: a stale connection is retried
        # once), then runs on the primary: the caller gets its rows, not an error.
        assert (media_id,) in in_fresh_context(lambda: read_rows(user_shard(18), MEDIA_OF, [18]))
        assert f"replica shard0_replica unreachable, reading shard {user_shard(18)}" in caplog.text
    wait_for_the_standby()
