"""Writes to the shard layout: the map, the schemas, their migrations."""

import logging
import time
from collections.abc import Callable

from django.apps import apps
from django.conf import settings
from django.db import connections, transaction
from django.db.migrations.executor import MigrationExecutor

from instagram.pgbouncer import pgbouncer_connection
from sharding import move
from sharding.models import Shard, ShardedModel
from sharding.move import MoveError
from sharding.routing import forget_shard_map, migrating, shard_map
from sharding.sql import bootstrap_sql, schema_name

logger = logging.getLogger(__name__)


def initial_database(shard: int, *, logical_shards: int, databases: list[str]) -> str:
    """Place shard `shard` in contiguous ranges: the first 1/n of shards on the first database, ..."""
    return databases[shard * len(databases) // logical_shards]


def do_fill_shard_map(*, logical_shards: int, databases: list[str]) -> int:
    """Add the map rows that are missing (existing rows, moved shards included, stay); return how many."""
    with transaction.atomic(using="default"):
        existing = set(Shard.objects.using("default").select_for_update().values_list("logical", flat=True))
        missing = [
            Shard(logical=n, database=initial_database(n, logical_shards=logical_shards, databases=databases))
            for n in range(logical_shards)
            if n not in existing
        ]
        Shard.objects.using("default").bulk_create(missing)
    forget_shard_map()
    return len(missing)


def do_bootstrap_shard(shard: int) -> None:
    """Create shard `shard`'s schema, ID clock and next_id() on its database (idempotent)."""
    alias = shard_map().database(shard)
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        for statement in bootstrap_sql(shard):
            cursor.execute(statement)


def do_migrate_shard(shard: int, *, alias: str | None = None) -> list[str]:
    """Apply the pending migrations of sharded models to shard `shard`'s schema, in one transaction.

    Each schema keeps its own django_migrations table, so a run that stops
    half-way resumes where it stopped and a finished shard is skipped.
    alias: the database to migrate the schema in (default: where the map says).
    Returns the names of the migrations applied.
    """
    alias = alias or shard_map().database(shard)
    token = migrating.set(True)
    try:
        with transaction.atomic(using=alias):
            connection = connections[alias]
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL search_path TO {schema_name(shard)}")
            executor = MigrationExecutor(connection)
            # Only the apps that have sharded models (and what they depend on):
            # the other apps' migrations would all be skipped here anyway.
            targets = [node for node in executor.loader.graph.leaf_nodes() if node[0] in sharded_app_labels()]
            plan = executor.migration_plan(targets)
            if plan:
                executor.migrate(targets, plan=plan)
            return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]
    finally:
        migrating.reset(token)


def sharded_app_labels() -> set[str]:
    return {model._meta.app_label for model in apps.get_models() if issubclass(model, ShardedModel)}


def shard_databases() -> list[str]:
    return list(settings.SHARD_DATABASES)


def do_move_shard(
    shard: int, *, target_alias: str, keep_source: bool = False, say: Callable[[str], None]
) -> None:
    """Move logical shard `shard` to `target_alias` while it keeps serving (see sharding/move.py)."""
    source_alias = shard_map(max_age=0).database(shard)
    if target_alias not in settings.SHARD_DATABASES:
        raise MoveError(f"{target_alias} is not a shard database ({', '.join(settings.SHARD_DATABASES)})")
    if target_alias == source_alias:
        raise MoveError(f"shard {shard} is already on {target_alias}")
    schema = schema_name(shard)
    with (
        pgbouncer_connection(source_alias) as source,
        pgbouncer_connection(target_alias) as target,
        pgbouncer_connection("default") as main,
    ):
        say(f"prepare: {schema} on {target_alias}, change capture on {source_alias}")
        move.prepare(source, target, shard, lambda: do_migrate_shard(shard, alias=target_alias))
        for table in move.sharded_tables():
            say(f"copy: {table}: {move.copy_table(source, target, schema, table)} rows")
        applied = 0
        while True:
            with source.transaction(), target.transaction():
                applied = move.replay_log(source, target, schema, after=applied)
            left = move.backlog(source, schema, after=applied)
            say(f"catch up: {left} changes left")
            if left < move.CATCH_UP_TARGET:
                break
        started = time.monotonic()
        checks = move.cut_over(
            source=source,
            target=target,
            main=main,
            shard=shard,
            source_alias=source_alias,
            target_alias=target_alias,
            after=applied,
        )
        say(f"cut over in {(time.monotonic() - started) * 1000:.0f} ms; map: shard {shard} -> {target_alias}")
        for check in checks:
            say(f"verified: {check.table}: {check.rows} rows, checksum {check.checksum or '-'}")
        forget_shard_map()
        if keep_source:
            say(f"kept {schema} on {source_alias} (writes to it are refused)")
            return
        move.wait_for_map_reloads()
        move.drop_source(source, shard)
        say(f"dropped {schema} on {source_alias}")
