"""Writes to the shard layout: the map, the schemas, their migrations."""

import logging

from django.conf import settings
from django.db import connections, transaction
from django.db.migrations.executor import MigrationExecutor

from sharding.models import Shard
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


def do_migrate_shard(shard: int) -> list[str]:
    """Apply the pending migrations of sharded models to shard `shard`'s schema, in one transaction.

    Each schema keeps its own django_migrations table, so a run that stops
    half-way resumes where it stopped and a finished shard is skipped.
    Returns the names of the migrations applied.
    """
    alias = shard_map().database(shard)
    token = migrating.set(True)
    try:
        with transaction.atomic(using=alias):
            connection = connections[alias]
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL search_path TO {schema_name(shard)}")
            executor = MigrationExecutor(connection)
            targets = executor.loader.graph.leaf_nodes()
            plan = executor.migration_plan(targets)
            if plan:
                executor.migrate(targets, plan=plan)
            return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]
    finally:
        migrating.reset(token)


def shard_databases() -> list[str]:
    return list(settings.SHARD_DATABASES)
