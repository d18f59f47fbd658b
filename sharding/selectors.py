"""Reads about the shard layout: per-shard table definitions, row counts."""

from collections.abc import Iterator
from typing import Any

from django.db import connections
from django.db.models import QuerySet

from instagram.progress import progress
from sharding.routing import shard_map, use_shard
from sharding.sql import schema_name

Definition = list[tuple[str, str, str, str]]


def shard_definition(shard: int) -> Definition:
    """Return (table, column, type, default) for every column of shard `shard`'s tables."""
    alias = shard_map().database(shard)
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, data_type, coalesce(column_default, '')"
            " FROM information_schema.columns WHERE table_schema = %s"
            " ORDER BY table_name, ordinal_position",
            [schema_name(shard)],
        )
        rows = cursor.fetchall()
    # Defaults name their own schema (shard_0007.next_id()); compare them without it.
    schema = schema_name(shard)
    return [(t, c, d, default.replace(f"{schema}.", "")) for t, c, d, default in rows]


def shard_problems(shard: int, *, reference: Definition) -> list[str]:
    """Say what is wrong with shard `shard`: missing schema, missing next_id(), drifted tables."""
    alias = shard_map().database(shard)
    schema = schema_name(shard)
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", [schema])
        (schemas,) = cursor.fetchone()
        if not schemas:
            return [f"{schema}: schema missing on {alias}"]
        cursor.execute(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = %s AND p.proname = 'next_id'",
            [schema],
        )
        (functions,) = cursor.fetchone()
    problems = [] if functions else [f"{schema}: next_id() missing"]
    definition = shard_definition(shard)
    if definition != reference:
        drift = sorted(set(definition) ^ set(reference))[:5]
        problems.append(f"{schema}: tables differ from shard 0: {drift}")
    return problems


def shard_row_counts(shard: int, tables: list[str]) -> dict[str, int]:
    """Count the rows of `tables` in shard `shard` (one query)."""
    alias = shard_map().database(shard)
    schema = schema_name(shard)
    parts = [f"(SELECT count(*) FROM {schema}.{table})" for table in tables]
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts))
        counts = cursor.fetchone()
    return dict(zip(tables, (int(c) for c in counts), strict=True))


def scan_shards(
    queryset: QuerySet[Any], *fields: str, batch: int, label: str
) -> Iterator[list[tuple[Any, ...]]]:
    """Yield every row of the sharded `queryset` on every logical shard as tuples of `fields`, in batches.

    For rebuilds of what is derived from the shards (Redis indexes). The first
    field must be the id. One short read-only transaction per batch (on the
    standby unless it is down): a long one would hold back its cleanup, or be
    cancelled by replay conflicts. Keyset pagination keeps every batch an
    index range scan, however deep into the shard. Draws a progress bar
    over the shards.
    """
    count = len(shard_map(max_age=0).databases)
    for shard in progress(range(count), total=count, label=label):
        last_id = 0
        while True:
            with use_shard(shard, read_only=True):
                rows = list(queryset.filter(id__gt=last_id).order_by("id").values_list(*fields)[:batch])
            if rows:
                yield rows
            if len(rows) < batch:
                break
            last_id = rows[-1][0]
