"""Reaching a logical shard from ordinary Django ORM code.

    with shard_for_user(user_id):            # the user's shard, on the primary
        Media.objects.create(user_id=user_id, ...)
    with shard_for_id(media_id, read_only=True):   # lag-tolerant read, standby
        media = Media.objects.get(id=media_id)

A write context is one transaction on the physical database that holds the
shard (`transaction.atomic(using=alias)`) whose first statement is
`SET LOCAL search_path TO shard_NNNN`: the setting ends with the transaction,
so nothing leaks through pgbouncer's transaction pooling to the next client.
A read-only context opens no transaction and sets nothing: its statements
name the shard's tables with their schema (`"shard_NNNN"."photos_media"`,
rewritten by an execute wrapper, `qualify`), so each read is one round trip
instead of four (BEGIN, SET LOCAL, SELECT, COMMIT), and there is no session
state at all for pgbouncer to hand on. Each statement sees its own snapshot,
as it did in the READ COMMITTED transaction.
Sharded models used outside a context raise ShardContextError (the router).

Placement: a user's rows live on logical shard `user_id % LOGICAL_SHARDS`;
any sharded object's shard is written in its ID; likes and comments live with
their media; follow edges are stored on both users' shards.
"""

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import Any

import redis
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connections, transaction

from instagram import rediskeys
from instagram.redis_client import redis_primary
from instagram.request_memo import forget_request_memo, memoized, remember
from sharding.ids import decode_id
from sharding.models import Shard, ShardedModel
from sharding.sql import schema_name

MOVED_SQLSTATE = "IG001"  # raised by a moved shard's old copy (sharding/move.py)

logger = logging.getLogger(__name__)


class ShardContextError(RuntimeError):
    """A sharded model was used where no shard context says which shard."""


class ShardMapError(RuntimeError):
    """The shard map does not match the configured number of logical shards."""


@dataclass(frozen=True)
class ShardContext:
    shard: int
    alias: str  # the Django database alias the transaction runs on
    schema: str
    read_only: bool
    qualified: bool = False  # no transaction: statements name the schema (qualify)


_current: ContextVar[ShardContext | None] = ContextVar("shard_context", default=None)
# True once this request (or job) committed a write to a shard: its own later
# reads then go to the primaries. Requests and jobs each run in a fresh context.
_wrote: ContextVar[bool] = ContextVar("wrote_to_a_shard", default=False)
# Aliases a read-only context ran its first statement on in this request (or job): _probe.
_probed: ContextVar[frozenset[str]] = ContextVar("probed_aliases", default=frozenset())
# Set while `migrate_shards` applies migrations to one schema.
migrating: ContextVar[bool] = ContextVar("migrating_shard", default=False)


def current_shard() -> ShardContext:
    context = _current.get()
    if context is None:
        raise ShardContextError(
            "sharded model used outside a shard context: wrap it in shard_for_user(), "
            "shard_for_id() or use_shard()"
        )
    return context


# ------------------------------------------------------------------ the map


@dataclass(frozen=True)
class ShardMap:
    databases: tuple[str, ...]  # index: logical shard -> primary alias
    loaded_at: float

    def database(self, shard: int) -> str:
        try:
            return self.databases[shard]
        except IndexError:
            raise ShardMapError(f"logical shard {shard} is not in the shard map") from None


_map: ShardMap | None = None


def shard_map(*, max_age: float | None = None) -> ShardMap:
    """Return the shard map, read from the main database at most every SHARD_MAP_TTL seconds."""
    global _map
    ttl = settings.SHARD_MAP_TTL if max_age is None else max_age
    if _map is None or time.monotonic() - _map.loaded_at > ttl:
        rows = list(Shard.objects.using("default").order_by("logical").values_list("logical", "database"))
        if [logical for logical, _ in rows] != list(range(settings.LOGICAL_SHARDS)):
            raise ShardMapError(
                f"the shard map holds {len(rows)} shards, LOGICAL_SHARDS is {settings.LOGICAL_SHARDS}: "
                "run `manage.py create_shards`"
            )
        _map = ShardMap(databases=tuple(db for _, db in rows), loaded_at=time.monotonic())
    return _map


def forget_shard_map() -> None:
    """Drop the cached map so the next use reads it again (after a move)."""
    global _map
    _map = None


# ---------------------------------------------------------------- placement


def user_shard(user_id: int) -> int:
    """Return the logical shard that holds `user_id`'s rows."""
    return user_id % settings.LOGICAL_SHARDS


def id_shard(object_id: int) -> int:
    """Return the logical shard written in a sharded object's ID."""
    return decode_id(object_id, logical_shards=settings.LOGICAL_SHARDS).shard


# ----------------------------------------------------------- replica reads


def note_write(user_id: int) -> None:
    """Send `user_id`'s reads to the primary for READ_YOUR_WRITES_SECONDS (any app server).

    Runs after the shard committed, often inside the transaction of another
    database (the main one, the other half of a follow edge): raising here
    would roll that back and leave half a write. So a Redis failure costs
    only the pin, with a log line: until the standby catches up (usually
    milliseconds), the user's next request may read it without this write.
    """
    try:
        redis_primary().set(rediskeys.recent_writer(user_id), 1, ex=settings.READ_YOUR_WRITES_SECONDS)
    except redis.RedisError as exc:
        logger.warning("could not pin user %s's reads to the primary (Redis: %s)", user_id, exc)


def wrote_recently(user_id: int) -> bool:
    """True when `user_id` wrote within the window, or when Redis cannot say (the primary is always right)."""
    try:
        return bool(redis_primary().exists(rediskeys.recent_writer(user_id)))
    except redis.RedisError as exc:
        logger.warning("Redis cannot say if user %s wrote recently, reading the primary: %s", user_id, exc)
        return True


_replica_down_until: dict[str, float] = {}


@cache
def replica_of(alias: str) -> str:
    return str(settings.REPLICA_DATABASES[alias])


def usable_replica(primary: str) -> str | None:
    """Return the standby alias of `primary`, unless it failed within REPLICA_RETRY_SECONDS."""
    replica = replica_of(primary)
    return None if _replica_down_until.get(replica, 0) > time.monotonic() else replica


def mark_replica_down(replica: str, error: Exception, *, reading: str) -> None:
    """Send reads to the primary for a while, so one dead standby costs one wait, not one per read."""
    connections[replica].close()
    _replica_down_until[replica] = time.monotonic() + settings.REPLICA_RETRY_SECONDS
    logger.warning("replica %s unreachable, reading %s from the primary: %s", replica, reading, error)


# ----------------------------------------------------------------- contexts


def _enter(
    stack: ExitStack,
    *,
    shard: int,
    alias: str,
    read_only: bool,
    one_statement: bool = False,
    probe: bool = True,
) -> ShardContext:
    schema = schema_name(shard)
    connection = connections[alias]
    if read_only or one_statement:
        if qualify not in connection.execute_wrappers:
            connection.execute_wrappers.append(qualify)
        if one_statement:  # on the primary: its own statement is the first, no probe needed
            return ShardContext(shard=shard, alias=alias, schema=schema, read_only=False, qualified=True)
        if not probe:  # read_rows: the caller's one statement is the check, repeated if it fails
            connection.health_check_done = True  # type: ignore[attr-defined]
        elif alias not in _probed.get() and alias not in settings.REPLICA_DATABASES:
            # The standby's probe: pgbouncer accepts a connection even when its server
            # is down. A read on a primary (a recent writer's) has nothing to fall back
            # to; Django's health check (instagram.postgresql: no round trip) stands in.
            _probe(alias)
        return ShardContext(shard=shard, alias=alias, schema=schema, read_only=True, qualified=True)
    stack.enter_context(transaction.atomic(using=alias))
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL search_path TO {schema}")
    return ShardContext(shard=shard, alias=alias, schema=schema, read_only=read_only)


def _probe(alias: str) -> None:
    """Run one statement on `alias`, once per request (or job): raise DatabaseError if it cannot answer.

    A read-only context has no statement of its own before the caller's
    reads: this one makes an unreachable standby fail here, where
    _try_replica falls back to the primary (pgbouncer accepts the connection
    even when its server is down). It stands in for Django's per-request
    health check (CONN_HEALTH_CHECKS), so it costs no extra round trip: a
    failure on a connection that went stale is retried once on a new one.
    """
    connection = connections[alias]
    for attempt in (1, 2):
        try:
            connection.health_check_done = True  # type: ignore[attr-defined]  # this statement is the health check
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            break
        except DatabaseError:
            connection.close()
            if attempt == 2:
                raise
    _probed.set(_probed.get() | {alias})


@cache
def _sharded_table_names() -> re.Pattern[str]:
    from django.apps import apps

    tables = sorted(m._meta.db_table for m in apps.get_models() if issubclass(m, ShardedModel))
    names = "|".join(re.escape(t) for t in tables)
    # A table name, quoted or not, not already qualified and not part of a longer name.
    return re.compile(rf'(?<![\w."])"?({names})"?(?![\w"])')


def qualify(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    """Execute wrapper: in a read-only shard context on this connection, name its schema in `sql`."""
    current = _current.get()
    if current is not None and current.qualified and current.alias == context["connection"].alias:
        sql = _sharded_table_names().sub(lambda m: f'"{current.schema}"."{m.group(1)}"', sql)
    return execute(sql, params, many, context)


@contextmanager
def use_shard(
    shard: int,
    *,
    read_only: bool = False,
    for_user: int | None = None,
    one_statement: bool = False,
    probe: bool = True,
) -> Iterator[ShardContext]:
    """Open one transaction on logical shard `shard` and route sharded models to it.

    read_only: use the streaming standby, unless `for_user` wrote within the
    read-your-writes window, or the standby is unreachable (then the primary,
    with a log line). A write context notes `for_user` as a recent writer
    once it commits.

    one_statement: a write that is a single statement (an idempotent insert,
    a delete) on the primary, in no transaction of its own but the
    statement's: no BEGIN, SET LOCAL and COMMIT around it (one round trip
    instead of four); its tables are named with their schema, as a read
    context's are. Only for a write that is one statement: two statements
    would commit one by one.
    """
    primary = shard_map().database(shard)
    outer = _current.get()
    with ExitStack() as stack:
        context: ShardContext | None = None
        if (
            read_only
            and not _wrote.get()
            and not (for_user is not None and _wrote_recently_memoized(for_user))
        ):
            context = _try_replica(stack, shard=shard, primary=primary, probe=probe)
        if context is None:
            context = _enter(
                stack,
                shard=shard,
                alias=primary,
                read_only=read_only,
                one_statement=one_statement and not read_only,
            )
        token = _current.set(context)
        try:
            yield context
        except DatabaseError as exc:
            if getattr(exc.__cause__, "sqlstate", None) == MOVED_SQLSTATE:
                # The shard moved under a stale map: the caller's retry reads it afresh.
                forget_shard_map()
            raise
        finally:
            _current.reset(token)
            if (
                outer is not None
                and not outer.qualified
                and not context.qualified
                and outer.alias == context.alias
                and outer.schema != context.schema
            ):
                # SET LOCAL outlives a released savepoint: give the outer context its schema back.
                with connections[outer.alias].cursor() as cursor:
                    cursor.execute(f"SET LOCAL search_path TO {outer.schema}")
    if not read_only:
        _wrote.set(True)
        forget_request_memo()
        if for_user is not None:
            note_write(for_user)


def read_rows(
    shard: int, sql: str, params: Sequence[Any], *, for_user: int | None = None
) -> list[tuple[Any, ...]]:
    """Run one read statement on logical shard `shard` and return its rows, with no probe before it.

    Routed as `use_shard(shard, read_only=True, for_user=...)` routes (the
    standby unless the reader wrote recently); the sharded tables in `sql`
    are named with the shard's schema. A read context probes the standby
    before the caller's first statement because it cannot run the caller's
    code twice; one statement can be repeated, so it is its own probe: a
    failure on the standby is retried once on a fresh connection (the kept
    one may have gone stale), then the standby is marked down and the
    statement runs on the primary. Saves one round trip per request and
    shard on the pages that read one statement (relationships.states_with).
    """
    for attempt in (1, 2):
        alias = ""
        try:
            with use_shard(shard, read_only=True, for_user=for_user, probe=False) as context:
                alias = context.alias
                with connections[alias].cursor() as cursor:
                    cursor.execute(sql, params)
                    rows: list[tuple[Any, ...]] = cursor.fetchall()
        except (OperationalError, InterfaceError) as exc:
            if alias != replica_of(shard_map().database(shard)):
                raise  # the primary's failure, or the statement's own: not the standby's to absorb
            connections[alias].close()
            if attempt == 2:
                mark_replica_down(alias, exc, reading=f"shard {shard}")
            continue
        _probed.set(_probed.get() | {alias})  # it answered: later read contexts need no probe
        return rows
    # The standby is marked down: this context is the primary's.
    with (
        use_shard(shard, read_only=True, for_user=for_user) as context,
        connections[context.alias].cursor() as cursor,
    ):
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _wrote_recently_memoized(user_id: int) -> bool:
    """wrote_recently, asked of Redis once per request (instagram.request_memo), not before each read."""
    return memoized(_wrote_recently_key(user_id), lambda: wrote_recently(user_id))


def remember_recent_write(user_id: int, *, wrote: bool) -> None:
    """Keep for the request what another Redis call learned of wrote_recently(user_id).

    The rate limit asks it with the request's count (ratelimits.limiter).
    A write of the request's own clears the memo, as it does for an answer
    read here.
    """
    remember(_wrote_recently_key(user_id), wrote)


def _wrote_recently_key(user_id: int) -> tuple[str, int]:
    return ("wrote_recently", user_id)


def _try_replica(stack: ExitStack, *, shard: int, primary: str, probe: bool = True) -> ShardContext | None:
    replica = usable_replica(primary)
    if replica is None:
        return None
    attempt = ExitStack()
    try:
        context = _enter(attempt, shard=shard, alias=replica, read_only=True, probe=probe)
    except DatabaseError as exc:
        attempt.__exit__(type(exc), exc, exc.__traceback__)  # roll back, don't commit
        mark_replica_down(replica, exc, reading=f"shard {shard}")
        return None
    stack.push(attempt.pop_all())
    return context


def shard_for_user(
    user_id: int, *, read_only: bool = False, one_statement: bool = False
) -> AbstractContextManager[ShardContext]:
    """Shard context for `user_id`'s own rows (their media, their follow edges)."""
    return use_shard(user_shard(user_id), read_only=read_only, for_user=user_id, one_statement=one_statement)


def shard_for_id(
    object_id: int, *, read_only: bool = False, for_user: int | None = None
) -> AbstractContextManager[ShardContext]:
    """Shard context for the object with `object_id` (and what lives with it)."""
    return use_shard(id_shard(object_id), read_only=read_only, for_user=for_user)


def insert_unless_exists(
    model: type[ShardedModel], *, returning: str = "id", **values: Any
) -> tuple[Any, ...] | None:
    """Insert one row of `model` in the current shard context unless a unique constraint says it exists.

    Return the new row's `returning` column(s) (a tuple), or None when the row
    was already there: the way to write idempotently, whoever races.
    """
    columns = ", ".join(connections[current_shard().alias].ops.quote_name(name) for name in values)
    placeholders = ", ".join(["%s"] * len(values))
    with connections[current_shard().alias].cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {model._meta.db_table} ({columns}) VALUES ({placeholders}) "
            f"ON CONFLICT DO NOTHING RETURNING {returning}",
            list(values.values()),
        )
        row = cursor.fetchone()
    return tuple(row) if row is not None else None
