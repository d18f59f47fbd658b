"""Shard tools: create (idempotent), map, verify, migrate (resumable)."""

import io

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connections

from sharding.router import is_sharded
from sharding.routing import shard_map
from sharding.sql import schema_name


def run(command: str, *args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def test_create_shards_again_changes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    output = run("create_shards")
    assert f"{settings.LOGICAL_SHARDS} logical shards on shard0, shard1 (0 new in the map)" in output
    assert "creating shards: 64/64 (100%)" in capsys.readouterr().err  # progress, on a non-terminal


def test_shard_map_prints_ranges_per_database() -> None:
    output = run("shard_map")
    assert "shards    0-31   -> shard0" in output
    assert "shards   32-63   -> shard1" in output
    assert "shard0: 32 shards, shard1: 32 shards" in output


def test_verify_passes_on_a_healthy_layout_and_names_a_broken_shard() -> None:
    assert "64 shards verified" in run("verify_shards")
    alias = shard_map().database(7)
    with connections[alias].cursor() as cursor:
        cursor.execute(f"ALTER TABLE {schema_name(7)}.media ADD COLUMN stray integer")
    try:
        with pytest.raises(CommandError, match="1 problems in 64 shards"):
            run("verify_shards")
    finally:
        with connections[alias].cursor() as cursor:
            cursor.execute(f"ALTER TABLE {schema_name(7)}.media DROP COLUMN stray")


def test_migrate_shards_resumes_where_a_shard_is_behind() -> None:
    assert "0 of 64 shards migrated" in run("migrate_shards")
    # Shard 8 as if a run had stopped before reaching it.
    alias = shard_map().database(8)
    schema = schema_name(8)
    photo_tables = [m._meta.db_table for m in apps.get_app_config("photos").get_models() if is_sharded(m)]
    with connections[alias].cursor() as cursor:
        cursor.execute(f"DROP TABLE {', '.join(f'{schema}.{table}' for table in photo_tables)}")
        cursor.execute(f"DELETE FROM {schema}.django_migrations WHERE app = 'photos'")
    assert "1 of 64 shards migrated" in run("migrate_shards")
    assert "64 shards verified" in run("verify_shards")
