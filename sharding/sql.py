"""DDL of one logical shard's schema: its name, ID clock and `next_id()`.

`next_id()` keeps a per-shard tick, `ms << 10 | counter`, in a sequence used
as a non-transactional register and advances it under a short advisory lock:

    tick = greatest(last_tick + 1, now_ms << 10)

so IDs of one shard strictly increase and never repeat. When more than 1024
IDs are asked for within one millisecond, the tick borrows the next
millisecond (the timestamp runs ahead by about burst/1024 ms). When the
clock steps backwards, the tick keeps counting from the last one, so IDs stay
unique and ordered; their timestamps run ahead until the clock catches up.

The lock is a session-level advisory lock held only inside the function and
released on every path, errors and cancellation included, so nothing leaks
to the next client of a pgbouncer server connection; unlike a row lock it is
not held until the inserting transaction commits.
"""

from sharding.ids import EPOCH_MS, MAX_LOGICAL_SHARDS, SEQUENCE_BITS, SHARD_BITS

ADVISORY_LOCK_CLASS = 0x1651  # first key of the (class, shard) advisory lock pair


def schema_name(shard: int) -> str:
    if not 0 <= shard < MAX_LOGICAL_SHARDS:
        raise ValueError(f"logical shard {shard} is outside 0..{MAX_LOGICAL_SHARDS - 1}")
    return f"shard_{shard:04d}"


def bootstrap_sql(shard: int) -> list[str]:
    """Return the statements that create shard `shard`'s schema, ID clock and next_id()."""
    schema = schema_name(shard)
    return [
        f"CREATE SCHEMA IF NOT EXISTS {schema}",
        f"CREATE SEQUENCE IF NOT EXISTS {schema}.id_clock AS bigint MINVALUE 0 START 0",
        f"""
CREATE OR REPLACE FUNCTION {schema}.next_id() RETURNS bigint
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $fn$
DECLARE
    now_tick bigint := ((extract(epoch FROM clock_timestamp()) * 1000)::bigint - {EPOCH_MS})
                       << {SEQUENCE_BITS};
    tick bigint;
BEGIN
    PERFORM pg_advisory_lock({ADVISORY_LOCK_CLASS}, {shard});
    BEGIN
        SELECT setval('{schema}.id_clock', greatest(last_value + 1, now_tick))
          INTO tick FROM {schema}.id_clock;
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        PERFORM pg_advisory_unlock({ADVISORY_LOCK_CLASS}, {shard});
        RAISE;
    END;
    PERFORM pg_advisory_unlock({ADVISORY_LOCK_CLASS}, {shard});
    RETURN ((tick >> {SEQUENCE_BITS}) << {SHARD_BITS + SEQUENCE_BITS})
         | ({shard}::bigint << {SEQUENCE_BITS})
         | (tick & {(1 << SEQUENCE_BITS) - 1});
END
$fn$""",
    ]
