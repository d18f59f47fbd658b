"""IDs: made by each shard's next_id(), unique under concurrency and bursts, sortable, decodable."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.db import connections

from instagram.pgbouncer import pgbouncer_connection
from photos.models import Media
from sharding.ids import EPOCH_MS, InvalidIdError, decode_id
from sharding.routing import shard_for_user, shard_map, use_shard
from sharding.sql import schema_name
from tests.conftest import Stack


def ids_from(shard: int, count: int) -> list[int]:
    """Ask shard `shard` for `count` IDs in one statement, on a connection of our own."""
    alias = shard_map().database(shard)
    with pgbouncer_connection(alias) as conn:
        rows = conn.execute(
            f"SELECT {schema_name(shard)}.next_id() FROM generate_series(1, %s)", [count]
        ).fetchall()
    return [int(row[0]) for row in rows]


def test_concurrent_clients_on_one_shard_never_get_the_same_id(stack: Stack) -> None:
    with ThreadPoolExecutor(max_workers=6) as pool:
        batches = list(pool.map(lambda _: ids_from(3, 4000), range(6)))
    every = [i for batch in batches for i in batch]
    assert len(set(every)) == len(every) == 24000
    for batch in batches:
        assert batch == sorted(batch)  # each client sees strictly increasing IDs
        assert len(set(batch)) == len(batch)
    assert {decode_id(i, logical_shards=settings.LOGICAL_SHARDS).shard for i in every} == {3}


def set_clock(shard: int, tick: int) -> None:
    alias = shard_map().database(shard)
    with pgbouncer_connection(alias) as conn:
        conn.execute(f"SELECT setval('{schema_name(shard)}.id_clock', %s)", [tick])


def now_ms() -> int:
    return int(time.time() * 1000) - EPOCH_MS


def test_more_than_1024_ids_in_one_millisecond_borrow_the_next_one(stack: Stack) -> None:
    # As if 1020 IDs had already been handed out in the current millisecond.
    ms = now_ms() + 5_000  # ahead of the wall clock for as long as a loaded machine may take
    set_clock(5, (ms << 10) | 1019)
    ids = ids_from(5, 3000)
    assert len(set(ids)) == 3000
    decoded = [decode_id(i, logical_shards=settings.LOGICAL_SHARDS) for i in ids]
    assert (decoded[0].timestamp_ms - EPOCH_MS, decoded[0].sequence) == (ms, 1020)
    assert (decoded[4].timestamp_ms - EPOCH_MS, decoded[4].sequence) == (ms + 1, 0)
    assert ids == sorted(ids)


def test_clock_stepping_backwards_keeps_ids_unique_and_increasing(stack: Stack) -> None:
    # The last ID was made 10 s "in the future": the wall clock has gone back.
    ahead = now_ms() + 10_000
    set_clock(6, ahead << 10)
    ids = ids_from(6, 100)
    first = decode_id(ids[0], logical_shards=settings.LOGICAL_SHARDS)
    assert first.timestamp_ms - EPOCH_MS == ahead
    assert first.sequence == 1
    assert ids == sorted(set(ids))


def test_id_decodes_to_its_shard_and_insert_time(stack: Stack) -> None:
    before = time.time() * 1000
    with shard_for_user(42) as context:
        media = Media.objects.create(user_id=42, caption="decode me")
    after = time.time() * 1000
    decoded = decode_id(media.id, logical_shards=settings.LOGICAL_SHARDS)
    assert decoded.shard == context.shard == 42 % settings.LOGICAL_SHARDS
    assert before - 5 <= decoded.timestamp_ms <= after + 5


def test_ids_sort_by_time_across_shards(stack: Stack) -> None:
    made = []
    for user_id in (1, 40, 2, 63, 17, 33):
        with shard_for_user(user_id):
            made.append(Media.objects.create(user_id=user_id).id)
        time.sleep(0.002)
    assert made == sorted(made)


def test_ids_with_impossible_shard_bits_are_rejected() -> None:
    with use_shard(0):
        valid = Media.objects.create(user_id=64).id
    forged = valid | ((settings.LOGICAL_SHARDS + 1) << 10)
    with pytest.raises(InvalidIdError, match=f"names logical shard {settings.LOGICAL_SHARDS + 1}"):
        decode_id(forged, logical_shards=settings.LOGICAL_SHARDS)
    with pytest.raises(InvalidIdError, match="not a positive 64-bit ID"):
        decode_id(-5, logical_shards=settings.LOGICAL_SHARDS)
    with pytest.raises(InvalidIdError):
        decode_id(1 << 63, logical_shards=settings.LOGICAL_SHARDS)


@pytest.mark.fast
def test_8192_logical_shards_fit_in_the_id() -> None:
    latest = ((1 << 40) - 1) << 23 | (8191 << 10) | 1023  # the last positive bigint ID
    assert decode_id(latest, logical_shards=8192).shard == 8191


def test_pk_default_is_the_schema_own_function(stack: Stack) -> None:
    alias = shard_map().database(9)
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT column_default FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = 'media' AND column_name = 'id'",
            [schema_name(9)],
        )
        assert cursor.fetchone() == (f"{schema_name(9)}.next_id()",)
