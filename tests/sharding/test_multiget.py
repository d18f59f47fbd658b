"""A feed page of media from many shards: memcached first, then one query per physical database."""

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest
from django.core.cache import cache
from django.db import connections
from django.test.utils import CaptureQueriesContext

from photos.models import Media
from sharding.multiget import fetch_many, object_cache_key
from sharding.routing import shard_for_user, shard_map, user_shard

# 20 users on 20 different logical shards, 10 on each physical database.
USERS = [*range(20, 30), *range(40, 50)]


@contextmanager
def count_queries(*aliases: str) -> Iterator[dict[str, CaptureQueriesContext]]:
    with ExitStack() as stack:
        yield {alias: stack.enter_context(CaptureQueriesContext(connections[alias])) for alias in aliases}


@pytest.fixture
def page() -> list[Media]:
    caption = uuid.uuid4().hex
    made = []
    for user_id in USERS:
        with shard_for_user(user_id):
            made.append(Media.objects.create(user_id=user_id, caption=caption))
    assert len({user_shard(u) for u in USERS}) == 20
    assert {shard_map().database(user_shard(u)) for u in USERS} == {"shard0", "shard1"}
    return made


def test_twenty_media_from_twenty_shards_take_one_query_per_database(page: list[Media]) -> None:
    ids = [m.id for m in page]
    with count_queries("shard0", "shard1", "shard0_replica", "shard1_replica", "default") as queries:
        found = fetch_many(Media, ids)
    assert {i: m.caption for i, m in found.items()} == {m.id: m.caption for m in page}
    assert {alias: len(q) for alias, q in queries.items()} == {
        "shard0": 1,
        "shard1": 1,
        "shard0_replica": 0,
        "shard1_replica": 0,
        "default": 0,
    }


def test_memcached_serves_what_it_holds_and_the_rest_comes_from_the_shards(page: list[Media]) -> None:
    ids = [m.id for m in page]
    cache.delete_many([object_cache_key(Media, i) for i in ids])
    first_half = ids[:10]  # all on shard0
    fetch_many(Media, first_half, cache=cache)
    with count_queries("shard0", "shard1") as queries:
        found = fetch_many(Media, ids, cache=cache)
    assert set(found) == set(ids)
    assert {alias: len(q) for alias, q in queries.items()} == {"shard0": 0, "shard1": 1}
    with count_queries("shard0", "shard1") as queries:
        assert set(fetch_many(Media, ids, cache=cache)) == set(ids)
    assert {alias: len(q) for alias, q in queries.items()} == {"shard0": 0, "shard1": 0}


def test_missing_ids_are_simply_absent(page: list[Media]) -> None:
    with shard_for_user(20):
        gone = Media.objects.create(user_id=20)
        gone_id = gone.id
        gone.delete()
    found = fetch_many(Media, [page[0].id, gone_id])
    assert set(found) == {page[0].id}


def test_read_only_multi_get_reads_the_standbys(page: list[Media]) -> None:
    ids = [m.id for m in page]
    with count_queries("shard0", "shard1", "shard0_replica", "shard1_replica") as queries:
        fetch_many(Media, ids, read_only=True)
    assert {alias: len(q) for alias, q in queries.items()} == {
        "shard0": 0,
        "shard1": 0,
        "shard0_replica": 1,
        "shard1_replica": 1,
    }
