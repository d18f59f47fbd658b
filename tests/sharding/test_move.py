"""Moving a shard online: writers keep inserting, nothing is lost or duplicated."""

import io
import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connections

from photos.models import Media
from sharding.routing import forget_shard_map, shard_for_user, shard_map
from tests.conftest import Stack
from tests.sharding.conftest import direct

MOVING = 20  # on shard0 at the start
OTHERS = (21, 40)  # one more on each database


class Writer(threading.Thread):
    """Inserts media for `users` until stopped; remembers every acknowledged ID."""

    def __init__(self, users: tuple[int, ...], caption: str) -> None:
        super().__init__(daemon=True)
        self.users = users
        self.caption = caption
        self.acknowledged: dict[int, set[int]] = {u: set() for u in users}
        self.failures = 0
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                for user_id in self.users:
                    try:
                        with shard_for_user(user_id):
                            media_id = Media.objects.create(user_id=user_id, caption=self.caption).id
                    except DatabaseError:
                        self.failures += 1  # refused during the cut-over: retried with a fresh map
                        time.sleep(0.01)
                        continue
                    self.acknowledged[user_id].add(media_id)
        finally:
            connections.close_all()


def ids_in(conn: psycopg.Connection[tuple[object, ...]], shard: int, caption: str) -> set[int]:
    rows = conn.execute(f"SELECT id FROM shard_{shard:04d}.media WHERE caption = %s", [caption]).fetchall()
    return {int(str(r[0])) for r in rows}


def schema_exists(conn: psycopg.Connection[tuple[object, ...]], shard: int) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_namespace WHERE nspname = %s", [f"shard_{shard:04d}"]
    ).fetchone()
    return row == (1,)


def move(shard: int, database: str) -> str:
    out = io.StringIO()
    call_command("move_shard", str(shard), database, stdout=out)
    return out.getvalue()


@pytest.fixture
def home_afterwards() -> Iterator[None]:
    """Whatever happens, leave the moving shard where the layout tests expect it."""
    yield
    forget_shard_map()
    if shard_map(max_age=0).database(MOVING) != "shard0":
        move(MOVING, "shard0")


@pytest.mark.disruptive
def test_moving_a_shard_under_write_load_loses_and_duplicates_nothing(
    stack: Stack, home_afterwards: None
) -> None:
    assert shard_map(max_age=0).database(MOVING) == "shard0"
    caption = uuid.uuid4().hex
    moving_writer, other_writer = Writer((MOVING,), caption), Writer(OTHERS, caption)
    moving_writer.start()
    other_writer.start()
    time.sleep(0.5)
    try:
        output = move(MOVING, "shard1")
        time.sleep(0.5)  # writes go on against the new home
    finally:
        moving_writer.stop.set()
        other_writer.stop.set()
        moving_writer.join(timeout=30)
        other_writer.join(timeout=30)
    forget_shard_map()
    assert "cut over in" in output
    assert shard_map(max_age=0).database(MOVING) == "shard1"
    with direct(stack, "shard0") as old_home, direct(stack, "shard1") as new_home:
        assert not schema_exists(old_home, MOVING)
        assert ids_in(new_home, MOVING, caption) == moving_writer.acknowledged[MOVING]
        assert len(moving_writer.acknowledged[MOVING]) > 20
        for user_id in OTHERS:
            conn = old_home if shard_map().database(user_id) == "shard0" else new_home
            assert ids_in(conn, user_id, caption) == other_writer.acknowledged[user_id]
    assert other_writer.failures == 0  # other shards never noticed

    back = move(MOVING, "shard0")  # and home again, which also leaves the layout as it was
    assert f"shard {MOVING} -> shard0" in back
    with direct(stack, "shard0") as home:
        assert ids_in(home, MOVING, caption) == moving_writer.acknowledged[MOVING]


def test_moving_to_where_it_already_is_or_to_an_unknown_database_is_refused() -> None:
    with pytest.raises(CommandError, match="already on shard0"):
        move(MOVING, "shard0")
    with pytest.raises(CommandError, match="is not a shard database"):
        move(MOVING, "nowhere")
