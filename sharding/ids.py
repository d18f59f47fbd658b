"""Time-sortable 64-bit IDs, as in "Sharding & IDs at Instagram" (2011).

    | 41 bits: ms since EPOCH | 13 bits: logical shard | 10 bits: sequence |

IDs are made inside PostgreSQL by each shard schema's `next_id()` (see
sharding/sql.py); these helpers read them back.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

# 2011-01-01T00:00:00Z: the year Instagram sharded. The top bit of the 41 is
# PostgreSQL bigint's sign bit, so IDs stay positive for 2**40 ms (34.8 years,
# until 2045-11); a later deployment moves the epoch forward.
EPOCH_MS = 1_293_840_000_000
SHARD_BITS = 13
SEQUENCE_BITS = 10
MAX_LOGICAL_SHARDS = 1 << SHARD_BITS  # 8192
MAX_ID = (1 << 63) - 1


class InvalidIdError(ValueError):
    """An ID that no shard of this deployment could have made."""


@dataclass(frozen=True)
class DecodedId:
    timestamp_ms: int  # Unix time in ms
    shard: int
    sequence: int

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, tz=UTC)


def decode_id(object_id: int, *, logical_shards: int) -> DecodedId:
    """Split an ID into its time, logical shard and sequence; reject impossible IDs."""
    if not 0 < object_id <= MAX_ID:
        raise InvalidIdError(f"{object_id} is not a positive 64-bit ID")
    shard = (object_id >> SEQUENCE_BITS) & (MAX_LOGICAL_SHARDS - 1)
    if shard >= logical_shards:
        raise InvalidIdError(
            f"ID {object_id} names logical shard {shard}, but there are only {logical_shards}"
        )
    return DecodedId(
        timestamp_ms=(object_id >> (SHARD_BITS + SEQUENCE_BITS)) + EPOCH_MS,
        shard=shard,
        sequence=object_id & ((1 << SEQUENCE_BITS) - 1),
    )


def min_id_at(moment: datetime) -> int:
    """Return the smallest ID any shard can make at `moment`: a bound for time-range queries."""
    ms = int(moment.timestamp() * 1000) - EPOCH_MS
    return max(ms, 0) << (SHARD_BITS + SEQUENCE_BITS)
