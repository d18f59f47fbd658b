"""The photo -> user map: media id -> owner's user id, in small Redis hashes.

As in "Storing hundreds of millions of simple key-value pairs in Redis"
(Instagram, 2011): instead of one string key per media (88 bytes a pair at
1M pairs, 100 at 10M), the pairs are packed into hashes small enough for
Redis to keep as listpacks, flat arrays of entries in which an integer costs
2 to 10 bytes. Measured by bench/photomap.py on Redis 7.0, with real 64-bit
IDs on random shards of all 8192 a 13-bit shard field can name and users
drawn from 14 million: 12.6 bytes a pair at 25 photos/s (Instagram's 2011
rate; they measured about 16) and at 100/s, for 1M and 10M pairs. Of those,
10.8 are the listpack entries, 1.4 the rounding of each listpack up to an
allocator size class, 0.4 the key. With IDs from at most 2048 shards
(fields then fit 24 bits): 11.2 to 11.7.

Layout (`rediskeys.photo_owners(bucket)`), from the parts of the ID that
`sharding.ids.decode_id` reads:

- bucket = the ID's Unix time in ms >> WINDOW_BITS: every media made in one
  8.2 s window, on any shard, shares a hash. At 25 photos/s that is about
  200 pairs a bucket, so the key's own cost (some 90 bytes) adds under
  half a byte a pair; at 100/s about 820, still under the 1024 entries up to which
  deploy/redis/*.conf keep a hash a listpack. A bucket over the limit
  (bursts above ~120/s) becomes a real hash table: correct, just larger.
- field = (sequence << (SHARD_BITS + WINDOW_BITS)) | (shard << WINDOW_BITS)
  | (ms within the window): the rest of the ID, ordered so the common case
  is small. The sequence is almost always 0 (it only counts up when one shard
  makes two IDs within a millisecond), and the shard sits above the ms so
  that a deployment with fewer logical shards gets smaller fields.
- value = the owner's user id.

Field and value are written as decimal strings of their "zigzag" fold
(0, 1, 2, 3, 4 ... -> 0, -1, 1, -2, 2 ...). Redis stores a canonical
decimal string in a listpack as an integer of the smallest signed width
that holds it, so without the fold the negative half of each width is
wasted: user ids from 8,388,608 to 16,777,215 (the upper 40% of 14 million
users) would take the 32-bit encoding (6 bytes) instead of the 24-bit one
(5 bytes), and so would fields of deployments with 1025 to 2048 shards.
Measured against plain decimals, the fold saves 0.4 bytes a pair with 8192
shards and 1.0 with 2048. Read the map through `owner_of`: raw HGETALL
output shows folded numbers.

Writes and reads go to the primary, so a job that runs right after a media
is posted finds its owner (the replica may lag). The map lives on the feed
shards (instagram/redis_client.py): a pair goes to the shard of its owner,
read off the logical shard in the media id, so no lookup needs the owner.
"""

from collections import defaultdict
from collections.abc import Iterable

import redis

from instagram import rediskeys
from instagram.redis_client import feed_index_of_media, feed_primary, feed_redis_for_media
from sharding.ids import MAX_LOGICAL_SHARDS, SHARD_BITS, decode_id

# 2**13 ms = 8.192 s of media per bucket; see the module docstring for the sizing.
WINDOW_BITS = 13


def _fold(number: int) -> int:
    """Map 0, 1, 2, 3, 4 ... to 0, -1, 1, -2, 2 ...: n < 2**k fits a signed k-bit integer."""
    return number >> 1 if number % 2 == 0 else -((number + 1) >> 1)


def _unfold(folded: int) -> int:
    """Invert `_fold`."""
    return 2 * folded if folded >= 0 else -2 * folded - 1


def bucket_and_field(media_id: int) -> tuple[int, str]:
    """Return the bucket (for `rediskeys.photo_owners`) and the hash field that hold `media_id`'s owner.

    Raise sharding.ids.InvalidIdError (a ValueError) for a non-positive
    or wider than 63-bit ID.
    """
    decoded = decode_id(media_id, logical_shards=MAX_LOGICAL_SHARDS)
    window_ms = decoded.timestamp_ms & ((1 << WINDOW_BITS) - 1)
    field = (decoded.sequence << (SHARD_BITS + WINDOW_BITS)) | (decoded.shard << WINDOW_BITS) | window_ms
    return decoded.timestamp_ms >> WINDOW_BITS, str(_fold(field))


def _owner_value(user_id: int) -> str:
    if user_id < 1:
        raise ValueError(f"user id {user_id} is not positive")
    return str(_fold(user_id))


def remember_owner(*, media_id: int, user_id: int, pipe: redis.client.Pipeline | None = None) -> None:
    """Record that `user_id` owns `media_id` (idempotent).

    With `pipe`, queue the command there (the caller executes it with its
    other writes); otherwise run it now on the primary of the media's feed shard.
    """
    bucket, field = bucket_and_field(media_id)
    client = feed_redis_for_media(media_id) if pipe is None else pipe
    client.hset(rediskeys.photo_owners(bucket), field, _owner_value(user_id))


def remember_owners(owners: Iterable[tuple[int, int]], *, pipe: redis.client.Pipeline) -> int:
    """Queue on `pipe` one HSET per bucket for many (media id, user id) pairs; return how many pairs.

    `pipe` is one feed shard's: the pairs must all belong there (feed_index_of_media).

    For bulk loads (the rebuild command, the benchmark): a batch of
    time-ordered IDs costs a few commands rather than one per pair.
    """
    buckets: defaultdict[int, list[str]] = defaultdict(list)
    pairs = 0
    for media_id, user_id in owners:
        bucket, field = bucket_and_field(media_id)
        buckets[bucket] += (field, _owner_value(user_id))
        pairs += 1
    for bucket, fields_and_values in buckets.items():
        pipe.hset(rediskeys.photo_owners(bucket), items=fields_and_values)
    return pairs


def forget_owner(*, media_id: int, pipe: redis.client.Pipeline | None = None) -> None:
    """Remove `media_id` from the map (the media was deleted); no error if it is absent.

    With `pipe`, queue the command there; otherwise run it now. Redis drops
    a bucket when its last field goes.
    """
    bucket, field = bucket_and_field(media_id)
    client = feed_redis_for_media(media_id) if pipe is None else pipe
    client.hdel(rediskeys.photo_owners(bucket), field)


def owner_of(media_id: int, *, client: redis.Redis | None = None) -> int | None:
    """Return the user id that owns `media_id`, or None if the map does not hold it."""
    bucket, field = bucket_and_field(media_id)
    value = (client or feed_redis_for_media(media_id)).hget(rediskeys.photo_owners(bucket), field)
    return None if value is None else _unfold(int(value))


def owners_of(media_ids: Iterable[int], *, client: redis.Redis | None = None) -> dict[int, int]:
    """Return {media id: owner's user id} for those of `media_ids` the map holds, one round trip a shard.

    With `client`, ask that server for all of them. Media posted close
    together share a bucket (a page of a feed mostly does): one HMGET per
    bucket, not an HGET per media.
    """
    shards: defaultdict[int, defaultdict[int, list[tuple[int, str]]]] = defaultdict(lambda: defaultdict(list))
    for media_id in dict.fromkeys(media_ids):
        bucket, field = bucket_and_field(media_id)
        shards[-1 if client else feed_index_of_media(media_id)][bucket].append((media_id, field))
    owners: dict[int, int] = {}
    for index, buckets in shards.items():
        pipe = (client or feed_primary(index)).pipeline(transaction=False)
        for bucket, pairs in buckets.items():
            pipe.hmget(rediskeys.photo_owners(bucket), [field for _, field in pairs])
        answers: list[list[bytes | None]] = pipe.execute()
        for pairs, values in zip(buckets.values(), answers, strict=True):
            owners.update(
                (media_id, _unfold(int(value)))
                for (media_id, _), value in zip(pairs, values, strict=True)
                if value is not None
            )
    return owners
