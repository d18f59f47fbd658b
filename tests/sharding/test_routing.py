"""Routing: rows land in the schema the map names, and nothing leaks through pgbouncer."""

import psycopg
import pytest
from django.conf import settings
from django.db import connections

from photos.models import Media
from sharding.routing import ShardContextError, shard_for_id, shard_for_user, shard_map, use_shard, user_shard
from sharding.sql import schema_name


def where_is(
    media_id: int, conns: dict[str, psycopg.Connection[tuple[object, ...]]]
) -> list[tuple[str, str]]:
    """Search every shard schema of every physical database for `media_id`."""
    found = []
    for alias, conn in conns.items():
        schemas = [
            str(r[0])
            for r in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname ~ '^shard_[0-9]{4}$'"
            ).fetchall()
        ]
        union = " UNION ALL ".join(f"SELECT '{s}' FROM {s}.media WHERE id = %s" for s in schemas)
        for (schema,) in conn.execute(union, [media_id] * len(schemas)).fetchall():
            found.append((alias, str(schema)))
    return found


def test_row_lands_in_the_database_and_schema_the_map_names_and_nowhere_else(
    shard_connections: dict[str, psycopg.Connection[tuple[object, ...]]],
) -> None:
    for user_id in (3, 50):  # one shard on each physical database
        with shard_for_user(user_id):
            media = Media.objects.create(user_id=user_id, caption="where am I")
        shard = user_shard(user_id)
        assert where_is(media.id, shard_connections) == [(shard_map().database(shard), schema_name(shard))]


def test_sharded_model_outside_a_shard_context_raises() -> None:
    with pytest.raises(ShardContextError, match="outside a shard context"):
        Media.objects.filter(user_id=1).exists()
    with pytest.raises(ShardContextError):
        Media.objects.create(user_id=1)


def test_consecutive_transactions_on_one_pooled_connection_land_in_their_own_shard(
    shard_connections: dict[str, psycopg.Connection[tuple[object, ...]]],
) -> None:
    # Shards 1 and 2 share a physical database, so pgbouncer hands both
    # transactions the same server connection; SET LOCAL must not outlive the first.
    assert shard_map().database(1) == shard_map().database(2)
    with use_shard(1) as first:
        backend_a = _backend_pid(first.alias)
        a = Media.objects.create(user_id=1)
    with use_shard(2) as second:
        backend_b = _backend_pid(second.alias)
        b = Media.objects.create(user_id=2)
    assert where_is(a.id, shard_connections) == [(first.alias, "shard_0001")]
    assert where_is(b.id, shard_connections) == [(second.alias, "shard_0002")]
    assert backend_a == backend_b
    with connections[first.alias].cursor() as cursor:  # outside any shard context
        cursor.execute("SHOW search_path")
        assert cursor.fetchone() == ('"$user", public',)


def _backend_pid(alias: str) -> int:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def test_nested_contexts_on_one_database_each_write_to_their_own_shard(
    shard_connections: dict[str, psycopg.Connection[tuple[object, ...]]],
) -> None:
    with use_shard(10):
        inner_id = None
        with use_shard(11):
            inner_id = Media.objects.create(user_id=11).id
        outer_id = Media.objects.create(user_id=10).id
    assert where_is(inner_id, shard_connections)[0][1] == "shard_0011"
    assert where_is(outer_id, shard_connections)[0][1] == "shard_0010"


def test_object_is_found_again_from_its_id_alone() -> None:
    with shard_for_user(77):
        media = Media.objects.create(user_id=77, caption="find me")
    with shard_for_id(media.id):
        assert Media.objects.get(id=media.id).caption == "find me"


def test_a_failed_shard_transaction_writes_nothing(
    shard_connections: dict[str, psycopg.Connection[tuple[object, ...]]],
) -> None:
    def write_then_fail() -> int:
        with shard_for_user(21):
            media_id = Media.objects.create(user_id=21).id
            raise RuntimeError(str(media_id))

    with pytest.raises(RuntimeError) as failure:
        write_then_fail()
    assert where_is(int(str(failure.value)), shard_connections) == []


def test_writes_are_refused_in_a_read_only_context() -> None:
    with pytest.raises(ShardContextError, match="read-only"), shard_for_user(5, read_only=True):
        Media.objects.create(user_id=5)


def test_logical_shards_are_spread_over_both_physical_databases() -> None:
    databases = shard_map().databases
    assert len(databases) == settings.LOGICAL_SHARDS
    assert set(databases) == set(settings.SHARD_DATABASES)
    assert databases == tuple(sorted(databases))  # contiguous ranges
