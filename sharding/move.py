"""Moving one logical shard to another physical database, online.

    1. prepare  create the schema, ID clock and tables on the target (empty),
                and a change log with capture triggers on the source tables
    2. copy     copy every table, by ID ranges, while writes go on
    3. catch up replay the change log (inserts, updates, deletes) until small
    4. cut over lock the source tables against writes (reads go on), replay
                the rest of the log, carry the ID clock over, flip the shard
                map, and leave a trigger on the source that refuses writes
                with SQLSTATE IG001 (the router then reloads the map)
    5. verify   row counts and checksums of every table, source vs target
    6. drop     the source schema, once verified and once every process has
                reloaded the map (twice SHARD_MAP_TTL)

Writes to this shard wait (or fail with IG001 and are retried) only during
the cut-over; other shards never notice. A move that stops half-way leaves
the map untouched and can simply be run again.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from django.apps import apps
from django.conf import settings
from psycopg.types.string import TextLoader

from sharding.models import ShardedModel
from sharding.routing import MOVED_SQLSTATE
from sharding.sql import bootstrap_sql, schema_name

logger = logging.getLogger(__name__)

BATCH = 5000
CATCH_UP_TARGET = 500  # log entries left when the cut-over starts

Connection = psycopg.Connection[tuple[object, ...]]


class MoveError(RuntimeError):
    """A move that cannot go on; the map still names the source."""


@dataclass(frozen=True)
class TableCheck:
    table: str
    rows: int
    checksum: str


def sharded_tables() -> list[str]:
    return sorted(m._meta.db_table for m in apps.get_models() if issubclass(m, ShardedModel))


def _columns(conn: Connection, schema: str, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        [schema, table],
    ).fetchall()
    return [str(r[0]) for r in rows]


def prepare(source: Connection, target: Connection, shard: int, migrate_target: Callable[[], object]) -> None:
    """Create the target schema (emptied if an earlier attempt left rows) and the source's change log."""
    schema = schema_name(shard)
    with target.transaction():
        for statement in bootstrap_sql(shard):
            target.execute(statement)
    migrate_target()
    with target.transaction():
        for table in sharded_tables():
            # Leftovers of an earlier move away from this database, or of a failed attempt.
            target.execute(f"DROP TRIGGER IF EXISTS refuse_moved ON {schema}.{table}")
            target.execute(f"DROP TRIGGER IF EXISTS move_capture ON {schema}.{table}")
            target.execute(f"TRUNCATE {schema}.{table}")
    with source.transaction():
        source.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.move_log"
            " (seq bigserial PRIMARY KEY, tbl text NOT NULL, row_id bigint NOT NULL)"
        )
        source.execute(f"TRUNCATE {schema}.move_log")
        source.execute(f"""
CREATE OR REPLACE FUNCTION {schema}.move_capture() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO {schema}.move_log (tbl, row_id) VALUES (TG_TABLE_NAME, OLD.id);
    ELSE
        INSERT INTO {schema}.move_log (tbl, row_id) VALUES (TG_TABLE_NAME, NEW.id);
    END IF;
    RETURN NULL;
END $fn$""")
        for table in sharded_tables():
            source.execute(f"DROP TRIGGER IF EXISTS move_capture ON {schema}.{table}")
            source.execute(
                f"CREATE TRIGGER move_capture AFTER INSERT OR UPDATE OR DELETE ON {schema}.{table}"
                f" FOR EACH ROW EXECUTE FUNCTION {schema}.move_capture()"
            )


def copy_table(source: Connection, target: Connection, schema: str, table: str) -> int:
    """Copy `table` by ID ranges (each batch its own short transactions); return rows copied."""
    columns = ", ".join(_columns(source, schema, table))
    last, copied = 0, 0
    while True:
        with source.transaction():
            rows = _fetch(
                source,
                f"SELECT {columns} FROM {schema}.{table} WHERE id > %s ORDER BY id LIMIT {BATCH}",
                [last],
            )
        if not rows:
            return copied
        with target.transaction():
            _upsert(target, schema, table, columns, rows)
        last = int(str(rows[-1][0]))
        copied += len(rows)


def _fetch(source: Connection, query: str, params: list[object]) -> list[tuple[object, ...]]:
    """Read rows to copy; json and jsonb as their text, since psycopg loads them as dicts it cannot send."""
    with source.cursor() as cursor:
        for json_type in ("json", "jsonb"):
            cursor.adapters.register_loader(json_type, TextLoader)
        return cursor.execute(query, params).fetchall()


def _upsert(
    target: Connection, schema: str, table: str, columns: str, rows: list[tuple[object, ...]]
) -> None:
    """Insert `rows` into the target table, or overwrite the rows with the same ID."""
    names = columns.split(", ")
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in names if c != "id")
    placeholders = ", ".join(["%s"] * len(names))
    with target.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {schema}.{table} ({columns}) VALUES ({placeholders})"
            f" ON CONFLICT (id) DO UPDATE SET {updates}",
            rows,
        )


def replay_log(source: Connection, target: Connection, schema: str, *, after: int) -> int:
    """Apply the logged changes with seq > `after` to the target; return the last seq applied.

    Runs in the callers' transactions: each logged row is copied as it is now
    on the source, or deleted from the target when it is gone.
    """
    entries = source.execute(
        f"SELECT seq, tbl, row_id FROM {schema}.move_log WHERE seq > %s ORDER BY seq", [after]
    ).fetchall()
    if not entries:
        return after
    by_table: dict[str, set[int]] = {}
    for _, table, row_id in entries:
        by_table.setdefault(str(table), set()).add(int(str(row_id)))
    for table, ids in by_table.items():
        columns = ", ".join(_columns(source, schema, table))
        rows = _fetch(source, f"SELECT {columns} FROM {schema}.{table} WHERE id = ANY(%s)", [list(ids)])
        if rows:
            _upsert(target, schema, table, columns, rows)
        gone = list(ids - {int(str(r[0])) for r in rows})
        if gone:
            target.execute(f"DELETE FROM {schema}.{table} WHERE id = ANY(%s)", [gone])
    return int(str(entries[-1][0]))


def backlog(source: Connection, schema: str, *, after: int) -> int:
    row = source.execute(f"SELECT count(*) FROM {schema}.move_log WHERE seq > %s", [after]).fetchone()
    return int(str(row[0])) if row else 0


def table_checks(conn: Connection, schema: str) -> list[TableCheck]:
    checks = []
    for table in sharded_tables():
        row = conn.execute(
            f"SELECT count(*), coalesce(md5(string_agg(t::text, ',' ORDER BY t.id)), '')"
            f" FROM {schema}.{table} t"
        ).fetchone()
        assert row is not None
        checks.append(TableCheck(table=table, rows=int(str(row[0])), checksum=str(row[1])))
    return checks


def cut_over(
    *,
    source: Connection,
    target: Connection,
    main: Connection,
    shard: int,
    source_alias: str,
    target_alias: str,
    after: int,
) -> list[TableCheck]:
    """Freeze the source's tables, finish the copy, verify, flip the map; return the checks.

    Order of commits: the target (all rows), then the map, then the source
    (its refusing trigger, and the release of the writers waiting on it).
    """
    schema = schema_name(shard)
    with source.transaction():
        for table in sharded_tables():
            # EXCLUSIVE: reads go on, writes wait (and find the refusing trigger after).
            source.execute(f"LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE")
        with target.transaction():
            replay_log(source, target, schema, after=after)
            clock = source.execute(f"SELECT last_value FROM {schema}.id_clock").fetchone()
            assert clock is not None
            target.execute(
                f"SELECT setval('{schema}.id_clock', greatest(%s, last_value)) FROM {schema}.id_clock",
                [clock[0]],
            )
            before, after_copy = table_checks(source, schema), table_checks(target, schema)
            if before != after_copy:
                raise MoveError(
                    f"shard {shard}: target differs after the final catch-up: {before} != {after_copy}"
                )
        source.execute(f"""
CREATE OR REPLACE FUNCTION {schema}.refuse_moved() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'logical shard {shard} has moved to {target_alias}; reload the shard map and retry'
        USING ERRCODE = '{MOVED_SQLSTATE}';
END $fn$""")
        for table in sharded_tables():
            source.execute(f"DROP TRIGGER IF EXISTS move_capture ON {schema}.{table}")
            source.execute(
                f"CREATE TRIGGER refuse_moved BEFORE INSERT OR UPDATE OR DELETE ON {schema}.{table}"
                f" FOR EACH STATEMENT EXECUTE FUNCTION {schema}.refuse_moved()"
            )
        with main.transaction():
            flipped = main.execute(
                "UPDATE sharding_shard SET database = %s WHERE logical = %s AND database = %s",
                [target_alias, shard, source_alias],
            ).rowcount
            if flipped != 1:
                raise MoveError(f"shard {shard} is no longer on {source_alias} in the map")
    return after_copy


def drop_source(source: Connection, shard: int) -> None:
    source.execute(f"DROP SCHEMA {schema_name(shard)} CASCADE")


def wait_for_map_reloads() -> None:
    """Give every process time to reload the map before the old copy goes."""
    time.sleep(2 * settings.SHARD_MAP_TTL)
