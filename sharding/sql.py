"""DDL of one logical shard's schema: its name, ID clock and `next_id()`.

Each shard keeps a tick, `ms << 10 | counter`, in a sequence (`id_clock`):

- Common path: `tick = nextval(id_clock)`, accepted when it is at most one
  millisecond behind the clock. Concurrent callers only share a lock.
- Catch-up (the shard was idle, so the tick lags): under the exclusive lock,
  where no other caller can be between its nextval() and its use, the
  sequence jumps forward to the clock with setval(). It never moves back.

So IDs of one shard strictly increase and never repeat: every one is a value
the sequence handed out once. When more than 1024 IDs are asked for within a
millisecond, the counter carries into the next millisecond (the timestamp
runs ahead by burst/1024 ms). When the clock steps backwards, the tick keeps
counting from where it was: IDs stay unique and ordered, their timestamps run
ahead until the clock catches up. A timestamp is at most 1 ms behind the
moment the ID was made.

The locks are session-level advisory locks held only inside the function and
released on every path, errors and cancellation included, so nothing leaks to
the next client of a pgbouncer server connection; unlike a row lock they are
not held until the inserting transaction commits.
"""

from sharding.ids import EPOCH_MS, MAX_LOGICAL_SHARDS, SEQUENCE_BITS, SHARD_BITS

ADVISORY_LOCK_CLASS = 0x1651  # first key of the (class, shard) advisory lock pair
LAG_TICKS = 1 << SEQUENCE_BITS  # how far (1 ms) the tick may trail the clock before a catch-up


def schema_name(shard: int) -> str:
    if not 0 <= shard < MAX_LOGICAL_SHARDS:
        raise ValueError(f"logical shard {shard} is outside 0..{MAX_LOGICAL_SHARDS - 1}")
    return f"shard_{shard:04d}"


def bootstrap_sql(shard: int) -> list[str]:
    """Return the statements that create shard `shard`'s schema, ID clock and next_id()."""
    schema = schema_name(shard)
    lock = f"{ADVISORY_LOCK_CLASS}, {shard}"
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
    PERFORM pg_advisory_lock_shared({lock});
    BEGIN
        tick := nextval('{schema}.id_clock');
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        PERFORM pg_advisory_unlock_shared({lock});
        RAISE;
    END;
    PERFORM pg_advisory_unlock_shared({lock});
    IF tick < now_tick - {LAG_TICKS} THEN
        PERFORM pg_advisory_lock({lock});
        BEGIN
            tick := nextval('{schema}.id_clock');
            IF tick < now_tick - {LAG_TICKS} THEN
                tick := setval('{schema}.id_clock', now_tick);
            END IF;
        EXCEPTION WHEN OTHERS OR query_canceled THEN
            PERFORM pg_advisory_unlock({lock});
            RAISE;
        END;
        PERFORM pg_advisory_unlock({lock});
    END IF;
    RETURN ((tick >> {SEQUENCE_BITS}) << {SHARD_BITS + SEQUENCE_BITS})
         | ({shard}::bigint << {SEQUENCE_BITS})
         | (tick & {(1 << SEQUENCE_BITS) - 1});
END
$fn$""",
    ]
