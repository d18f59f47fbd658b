"""The photo -> user map in the test stack's Redis: round trips, no collisions, listpack buckets, rebuild.

IDs are made in the sharding layout at random moments of 2013-2020, so each
test's buckets are its own; every pair written is forgotten afterwards.
"""

import io
import random
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from redis.client import Pipeline

from instagram import rediskeys
from instagram.redis_client import feed_index_of_media, feed_primary, feed_redis_for_media
from photos import photomap
from photos.models import Media
from sharding.ids import EPOCH_MS, MAX_LOGICAL_SHARDS, SEQUENCE_BITS, SHARD_BITS, InvalidIdError
from sharding.routing import shard_for_user

MAX_SHARD = MAX_LOGICAL_SHARDS - 1
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1
WINDOW_MS = 1 << photomap.WINDOW_BITS
USERS_2011 = 14_000_000


def media_id(*, unix_ms: int, shard: int, sequence: int) -> int:
    """Make an ID as shard `shard` would have at `unix_ms`."""
    return ((unix_ms - EPOCH_MS) << (SHARD_BITS + SEQUENCE_BITS)) | (shard << SEQUENCE_BITS) | sequence


def random_window() -> int:
    """Return the first Unix ms of a random bucket window in 2013-2020."""
    unix_ms = random.randrange(1_356_998_400_000, 1_609_459_200_000)
    return unix_ms - unix_ms % WINDOW_MS


class Pairs:
    """Writes pairs for one test, and forgets them afterwards."""

    def __init__(self) -> None:
        self.written: list[int] = []

    def remember(self, owners: dict[int, int]) -> None:
        pipes: dict[int, Pipeline] = {}
        for mid, user_id in owners.items():
            pipe = pipes.setdefault(index := feed_index_of_media(mid), feed_primary(index).pipeline(False))
            photomap.remember_owner(media_id=mid, user_id=user_id, pipe=pipe)
        for pipe in pipes.values():
            pipe.execute()
        self.written += owners

    def forget_all(self) -> None:
        for mid in self.written:
            photomap.forget_owner(media_id=mid)


@pytest.fixture
def pairs() -> Iterator[Pairs]:
    written = Pairs()
    yield written
    written.forget_all()


def test_real_shaped_ids_round_trip(pairs: Pairs) -> None:
    start = random_window()
    owners = {
        media_id(unix_ms=start + ms, shard=shard, sequence=sequence): random.randint(1, USERS_2011)
        for ms in (0, 1, WINDOW_MS - 1, WINDOW_MS, 17 * WINDOW_MS + 5)
        for shard in (0, 1, 63, 4095, MAX_SHARD)
        for sequence in (0, 1, 2, MAX_SEQUENCE)
    }
    # Users at the edges of the listpack integer widths, before and after the fold.
    edges = [1, 2, 4095, 4096, 8_388_607, 8_388_608, 16_777_215, 16_777_216, 2**31, 2**62]
    for user_id, mid in zip(edges, owners, strict=False):
        owners[mid] = user_id

    pairs.remember(owners)

    assert {mid: photomap.owner_of(mid) for mid in owners} == owners
    assert photomap.owners_of(owners) == owners


def test_ids_differing_only_in_sequence_shard_or_ms_never_collide(pairs: Pairs) -> None:
    # A few thousand random IDs packed into three windows, so buckets are crowded.
    start = random_window()
    ids = {
        media_id(
            unix_ms=start + random.randrange(3 * WINDOW_MS),
            shard=random.randrange(MAX_LOGICAL_SHARDS),
            sequence=random.choice((0, 0, 0, 1, random.randrange(1 << SEQUENCE_BITS))),
        )
        for _ in range(3000)
    }
    base = media_id(unix_ms=start + 100, shard=7, sequence=0)
    ids |= {base, base + 1, base + (1 << SEQUENCE_BITS), base + (1 << (SHARD_BITS + SEQUENCE_BITS))}
    owners = {mid: random.randint(1, USERS_2011) for mid in ids}

    assert len({photomap.bucket_and_field(mid) for mid in ids}) == len(ids)
    pairs.remember(owners)
    assert photomap.owners_of(ids) == owners


def test_bulk_load_writes_the_same_pairs_as_single_writes(pairs: Pairs) -> None:
    start = random_window()
    owners = {
        media_id(unix_ms=start + i * 13, shard=i % MAX_LOGICAL_SHARDS, sequence=i % 3): 1000 + i
        for i in range(500)
    }
    # The pairs of one feed shard (the map is sharded by the shard in the id).
    owners = {mid: owner for mid, owner in owners.items() if feed_index_of_media(mid) == 0}
    pipe = feed_primary(0).pipeline(transaction=False)
    assert photomap.remember_owners(owners.items(), pipe=pipe) == len(owners)
    assert len(pipe) == 1  # 6.5 s of media: one bucket, one HSET
    pipe.execute()
    pairs.written += owners

    assert photomap.owners_of(owners) == owners


def test_common_ids_and_users_fit_the_small_listpack_integers() -> None:
    unix_ms = random_window() + WINDOW_MS - 1
    _, field = photomap.bucket_and_field(media_id(unix_ms=unix_ms, shard=MAX_SHARD, sequence=0))
    assert -(2**31) <= int(field) < 2**31  # 32-bit: 6 bytes with its header and back-length
    _, field = photomap.bucket_and_field(media_id(unix_ms=unix_ms, shard=2047, sequence=0))
    assert -(2**23) <= int(field) < 2**23  # 24-bit: 5 bytes, for deployments of up to 2048 shards


def test_a_busy_bucket_stays_a_listpack_of_about_twelve_bytes_a_pair(pairs: Pairs) -> None:
    # 1000 pairs in one 8 s window: more than 100 photos/s would make.
    start = random_window()
    owners: dict[int, int] = {}
    while len(owners) < 1000:
        unix_ms, shard = start + random.randrange(WINDOW_MS), random.randrange(MAX_LOGICAL_SHARDS)
        mid = media_id(unix_ms=unix_ms, shard=shard, sequence=0)
        if feed_index_of_media(mid) == 0:  # one feed shard's bucket
            owners[mid] = random.randint(1, USERS_2011)
    pairs.remember(owners)

    key = rediskeys.photo_owners(photomap.bucket_and_field(next(iter(owners)))[0])
    client = feed_primary(0)
    assert client.hlen(key) == 1000
    assert client.object("encoding", key) == b"listpack"
    usage = client.memory_usage(key)
    assert usage is not None
    assert usage / 1000 < 13


def test_forget_owner_removes_the_pair_and_the_last_one_drops_the_bucket(pairs: Pairs) -> None:
    start = random_window()
    first, second = (media_id(unix_ms=start + 10, shard=s, sequence=0) for s in (3, 4))
    pairs.remember({first: 42, second: 43})

    photomap.forget_owner(media_id=first)
    assert photomap.owner_of(first) is None
    assert photomap.owner_of(second) == 43
    photomap.forget_owner(media_id=second)
    photomap.forget_owner(media_id=second)  # again: no error

    bucket, _ = photomap.bucket_and_field(first)
    assert feed_redis_for_media(first).exists(rediskeys.photo_owners(bucket)) == 0


def test_owners_of_leaves_out_what_the_map_does_not_hold(pairs: Pairs) -> None:
    start = random_window()
    known, unknown, elsewhere = (
        media_id(unix_ms=start + ms, shard=5, sequence=0) for ms in (1, 2, 50 * WINDOW_MS)
    )
    pairs.remember({known: 7})

    assert photomap.owners_of([known, unknown, elsewhere, known]) == {known: 7}
    assert photomap.owners_of([]) == {}
    assert photomap.owner_of(unknown) is None


def test_impossible_ids_and_users_are_refused() -> None:
    with pytest.raises(InvalidIdError):
        photomap.owner_of(0)
    with pytest.raises(InvalidIdError):
        photomap.owners_of([2**63])
    valid = media_id(unix_ms=random_window(), shard=1, sequence=0)
    with pytest.raises(ValueError, match="not positive"):
        photomap.remember_owner(media_id=valid, user_id=0)


def test_rebuild_repopulates_the_map_from_the_shards() -> None:
    # One user with more media than a batch, so their shard is read in pages; four with one each.
    owners: dict[int, int] = {}
    for user_id, media_count in [(random.randint(10**9, 2 * 10**9), n) for n in (30, 1, 1, 1, 1)]:
        with shard_for_user(user_id):
            for _ in range(media_count):
                owners[Media.objects.create(user_id=user_id).id] = user_id
    for mid in owners:
        photomap.forget_owner(media_id=mid)
    assert photomap.owners_of(owners) == {}

    out = io.StringIO()
    try:
        call_command("rebuild_photo_map", "--batch", "25", stdout=out, stderr=io.StringIO())
        assert photomap.owners_of(owners) == owners
        assert "media written" in out.getvalue()
    finally:
        for mid in owners:
            photomap.forget_owner(media_id=mid)
