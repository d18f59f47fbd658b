"""Helpers for the sharding tests: direct connections that bypass pgbouncer and Django."""

from collections.abc import Iterator

import psycopg
import pytest
from django.conf import settings

from tests.conftest import Stack

DATABASE_NAMES = {"shard0": "instagram_shard0", "shard1": "instagram_shard1"}


def direct(stack: Stack, alias: str, *, standby: bool = False) -> psycopg.Connection[tuple[object, ...]]:
    """Connect straight to PostgreSQL (not pgbouncer) for the physical database behind `alias`."""
    return psycopg.connect(
        host="127.0.0.1",
        port=stack.profile.pg_standby if standby else stack.profile.pg_primary,
        dbname=DATABASE_NAMES[alias],
        user=settings.DB_USER,
        password=settings.DB_PASSWORD,
        autocommit=True,
    )


@pytest.fixture
def shard_connections(stack: Stack) -> Iterator[dict[str, psycopg.Connection[tuple[object, ...]]]]:
    conns = {alias: direct(stack, alias) for alias in DATABASE_NAMES}
    try:
        yield conns
    finally:
        for conn in conns.values():
            conn.close()
