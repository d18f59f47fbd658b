"""The transactional outbox: a job is a row before it is a Gearman job.

`submit_job_on_commit` writes the job into `public.workers_outbox` on the
database alias of the write that causes it, inside the same transaction, so
the job exists exactly when the write does. After commit the web process
submits it to gearmand (bounded by short timeouts) and deletes the row; a row
that is still there after OUTBOX_GRACE_SECONDS was not taken (gearmand down
or black-holed, the process killed between commit and submit) and the relay
(`relay_outbox`, run by every worker between jobs) submits it, with backoff.

The table (workers/migrations/0002_outbox.py) lives in the `public` schema
of every physical database (main and shards), and is named schema-qualified
because a shard context's search_path points at the shard's schema. A row
may be submitted twice (the web process and the relay racing after a slow
submit, or a delete that failed); handlers
are idempotent, and gearmand merges a duplicate that is still queued (same
unique key).

See docs/decisions/outbox.md.
"""

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.db import connections, transaction

from workers.jobs import Payload

logger = logging.getLogger(__name__)

TABLE = "public.workers_outbox"

# Longer than the web process's bounded submit (connect + submit timeouts),
# so the relay does not race a submission that is still under way.
OUTBOX_GRACE_SECONDS = 10.0
RELAY_BATCH = 100
MAX_BACKOFF_SECONDS = 60.0

Sender = Callable[[str, Payload], None]


def outbox_databases() -> list[str]:
    """Every primary alias that may hold outbox rows: the main database and each shard database."""
    return ["default", *settings.SHARD_DATABASES]


def outbox_add(*, using: str, function: str, payload: Payload) -> int:
    """Write the job into the outbox on `using`, in whatever transaction is open there; return its row id."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (function, payload, due_at) "  # noqa: S608 (a constant table name)
            "VALUES (%s, %s, now() + make_interval(secs => %s)) RETURNING id",
            [function, payload.encode(), OUTBOX_GRACE_SECONDS],
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


# The delete's own commit does not wait for the WAL flush nor for the
# synchronous standby (set_config(..., true): this statement's transaction
# only). A delete lost in a crash is a row the relay submits again: a double
# submit, which the handlers absorb, and one replicated commit less per job.
_ASYNC_DELETE = (
    "WITH async AS (SELECT set_config('synchronous_commit', 'off', true)) "  # noqa: S608 (a constant table)
    f"DELETE FROM {TABLE} WHERE id = %s AND EXISTS (SELECT FROM async)"
)


def outbox_remove(*, using: str, row_id: int) -> None:
    """Delete a row gearmand took. A failure leaves it to the relay: a double submit, never a loss."""
    connection = connections[using]
    try:
        with connection.cursor() as cursor:
            if connection.in_atomic_block:  # the setting would outlive the statement: a plain delete
                cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [row_id])  # noqa: S608
            else:
                cursor.execute(_ASYNC_DELETE, [row_id])
    except Exception:
        logger.warning("could not delete outbox row %s on %s; the relay submits it again", row_id, using)


def outbox_pending(*, using: str | None = None) -> int:
    """Count the rows waiting, on `using` or on every database."""
    total = 0
    for alias in [using] if using else outbox_databases():
        with connections[alias].cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {TABLE}")  # noqa: S608
            row = cursor.fetchone()
        total += int(row[0]) if row else 0
    return total


def relay_outbox(*, send: Sender, now_due: bool = False) -> int:
    """Submit the due rows of every database to gearmand; return how many it took.

    Rows are locked with SKIP LOCKED, so several workers relay side by side
    without submitting one row twice. The first failure stops the database's
    batch (gearmand is down: the next rows would fail the same way) and pushes
    the row back with a doubling delay. `now_due` ignores the grace period (tests).
    """
    taken = 0
    for alias in outbox_databases():
        try:
            taken += _relay_database(alias, send=send, now_due=now_due)
        except Exception:
            logger.exception("could not relay the outbox of %s; the next round tries again", alias)
    return taken


def _relay_database(alias: str, *, send: Sender, now_due: bool) -> int:
    taken = 0
    due = "" if now_due else "WHERE due_at <= now() "
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        cursor.execute(
            f"SELECT id, function, payload, attempts FROM {TABLE} {due}"  # noqa: S608
            "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
            [RELAY_BATCH],
        )
        for row_id, function, encoded, attempts in cursor.fetchall():
            started = time.monotonic()
            try:
                send(function, Payload.decode(encoded))
            except Exception as exc:
                delay = min(OUTBOX_GRACE_SECONDS * 2**attempts, MAX_BACKOFF_SECONDS)
                cursor.execute(
                    f"UPDATE {TABLE} SET attempts = attempts + 1, "  # noqa: S608
                    "due_at = now() + make_interval(secs => %s), last_error = %s WHERE id = %s",
                    [delay, f"{type(exc).__name__}: {exc}"[:1000], row_id],
                )
                logger.warning(
                    "outbox row %s (%s) on %s not taken by gearmand in %.1fs (%s); next try in %.0fs",
                    row_id, function, alias, time.monotonic() - started, exc, delay,
                )  # fmt: skip
                break
            cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [row_id])  # noqa: S608
            logger.info("outbox row %s (%s) on %s relayed to gearmand", row_id, function, alias)
            taken += 1
    return taken
