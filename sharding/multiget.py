"""Fetching many sharded objects by ID: memcached first, then one query per physical database."""

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from django.core.cache.backends.base import BaseCache
from django.db import DatabaseError, connections

from sharding.models import ShardedModel
from sharding.routing import id_shard, mark_replica_down, shard_map, usable_replica
from sharding.sql import schema_name

M = TypeVar("M", bound=ShardedModel)


def object_cache_key(model: type[ShardedModel], object_id: int) -> str:
    """memcached key of one sharded object, e.g. `photos.media:4206207872746396672`."""
    return f"{model._meta.label_lower}:{object_id}"


def fetch_many(
    model: type[M],
    ids: Iterable[int],
    *,
    cache: BaseCache | None = None,
    cache_timeout: int = 3600,
    read_only: bool = False,
) -> dict[int, M]:
    """Return the objects of `model` with these IDs that exist, keyed by ID.

    What `cache` holds is served from it (one get_many); the rest is read
    with one query per physical database, a UNION ALL over the schemas of
    the logical shards involved, and then stored in `cache`. read_only
    reads from the standbys (falling back to the primaries).
    """
    wanted = list(dict.fromkeys(ids))
    found: dict[int, M] = {}
    if cache is not None and wanted:
        hits = cache.get_many([object_cache_key(model, i) for i in wanted])
        for object_id in wanted:
            hit = hits.get(object_cache_key(model, object_id))
            if hit is not None:
                found[object_id] = hit
    missing = [i for i in wanted if i not in found]
    columns, make = row_reader(model)
    fetched: dict[int, M] = {}
    for alias, rows in query_shards(
        missing,
        f"SELECT {columns} FROM {{schema}}.{model._meta.db_table} WHERE id = ANY(%s)",
        read_only=read_only,
        what=f"a multi-get of {model.__name__}",
    ):
        for row in rows:
            obj = make(alias, row)
            fetched[obj.pk] = obj
    if cache is not None and fetched:
        cache.set_many({object_cache_key(model, i): obj for i, obj in fetched.items()}, cache_timeout)
    found.update(fetched)
    return found


def row_reader(model: type[M], *, table_alias: str = "") -> tuple[str, Callable[[str, Sequence[Any]], M]]:
    """The columns of `model` for a raw SELECT, and how to make an instance from a row that starts with them.

    A raw query skips the fields' own conversions (a JSONField's text to its
    value): the maker applies them. Columns after the model's are left to
    the caller (a query that reads more beside each row).
    """
    fields = list(model._meta.concrete_fields)
    names = [f.attname for f in fields]
    prefix = f"{table_alias}." if table_alias else ""
    columns = ", ".join(f'{prefix}"{f.column}"' for f in fields)
    converters = [(i, f.from_db_value) for i, f in enumerate(fields) if hasattr(f, "from_db_value")]

    def make(alias: str, row: Sequence[Any]) -> M:
        values = list(row[: len(fields)])
        for i, convert in converters:
            values[i] = convert(values[i], None, connections[alias])
        return model.from_db(alias, names, values)

    return columns, make


def query_shards(
    ids: Iterable[int],
    select: str,
    *,
    read_only: bool = False,
    what: str = "a multi-get",
    shard_of: Callable[[int], int] = id_shard,
) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    """Run `select` for the sharded objects `ids`: one UNION ALL query per physical database.

    `select` names its table as `{schema}.<table>` and takes the shard's ids
    as its one `%s` parameter (an array). Yields (alias, rows) per database.
    read_only reads from the standbys (falling back to the primaries, saying
    `what` was being read). `shard_of` places each id: by default the shard
    written in an object's id; `user_shard` for user ids (rows a user owns).
    """
    by_database: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    databases = shard_map().databases
    for object_id in dict.fromkeys(ids):
        shard = shard_of(object_id)
        by_database[databases[shard]][shard].append(object_id)
    for primary, by_shard in by_database.items():
        sql = " UNION ALL ".join(f"({select.format(schema=schema_name(shard))})" for shard in by_shard)
        params = list(by_shard.values())
        alias = (usable_replica(primary) if read_only else None) or primary
        try:
            rows = _run(alias, sql, params)
        except DatabaseError as exc:
            if alias == primary:
                raise
            mark_replica_down(alias, exc, reading=what)
            alias = primary
            rows = _run(alias, sql, params)
        yield alias, rows


def _run(alias: str, sql: str, params: list[list[int]]) -> list[tuple[Any, ...]]:
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
