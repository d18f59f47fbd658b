#!/usr/bin/env python3
"""Memory of the photo -> user map (photos/photomap.py) in Redis, against one key per media.

For 1M and 10M pairs of real-shaped media IDs (the sharding layout; times
advancing at 25 photos/s, Instagram's 2011 rate, and at 4x that; shards
drawn from all 8192 a 13-bit field can name, the worst case for the map;
users from 1 to 14 million), the map is loaded into a spare database of the
stack's Redis (REDIS_URL) and `INFO memory` is read before and after; then
the same pairs as `SET media:<id> <user id>`, the naive baseline, in the
same run. Memory is used_memory less client buffers (a replica catching up
inflates those), after WAIT for the replicas.

    .venv/bin/python bench/photomap.py                  # 1M and 10M pairs
    .venv/bin/python bench/photomap.py --pairs 100000   # a quick look
    .venv/bin/python bench/photomap.py --shards 2048    # a deployment's shard count

The spare database (--db, 9) belongs to the benchmark: it is flushed before
each layout and at the end. Results go to var/bench/photomap.json.
"""

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from photos.photomap import remember_owners  # noqa: E402
from sharding.ids import EPOCH_MS, MAX_LOGICAL_SHARDS, SEQUENCE_BITS, SHARD_BITS  # noqa: E402

USERS = 14_000_000  # Instagram's users in late 2011: ids need 24 bits
BATCH = 10_000  # pairs per pipeline round trip
NAIVE_PER_MSET = 1_000

Pair = tuple[int, int]


@dataclass
class Result:
    pairs: int
    photos_per_second: int
    layout: str
    bytes_per_pair: float
    megabytes: float
    keys: int
    not_listpack: int
    seconds: float
    ratio_to_naive: float = 1.0


def media_pairs(*, count: int, rate: float, shards: int, seed: int) -> Iterator[list[Pair]]:
    """Yield (media id, user id) pairs in batches, as the shards' next_id() would make them.

    Photos arrive as a Poisson process at `rate` a second, each on a random
    shard. A shard's sequence counts up only when its last ID is at most a
    millisecond old, as in sharding/sql.py; otherwise it restarts at 0.
    """
    rnd = random.Random(seed)
    unix_ms = time.time() * 1000
    last_tick: dict[int, int] = {}
    batch: list[Pair] = []
    for _ in range(count):
        unix_ms += rnd.expovariate(rate) * 1000
        shard = rnd.randrange(shards)
        now_tick = (int(unix_ms) - EPOCH_MS) << SEQUENCE_BITS
        tick = last_tick.get(shard, -1) + 1
        if tick < now_tick - (1 << SEQUENCE_BITS):
            tick = now_tick
        last_tick[shard] = tick
        ms, sequence = tick >> SEQUENCE_BITS, tick & ((1 << SEQUENCE_BITS) - 1)
        media_id = (ms << (SHARD_BITS + SEQUENCE_BITS)) | (shard << SEQUENCE_BITS) | sequence
        batch.append((media_id, int(rnd.random() * USERS) + 1))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def load_map(client: redis.Redis, batches: Iterator[list[Pair]]) -> None:
    for batch in batches:
        pipe = client.pipeline(transaction=False)
        remember_owners(batch, pipe=pipe)
        pipe.execute()


def load_naive(client: redis.Redis, batches: Iterator[list[Pair]]) -> None:
    for batch in batches:
        pipe = client.pipeline(transaction=False)
        for start in range(0, len(batch), NAIVE_PER_MSET):
            pipe.mset(
                {f"media:{media_id}": user_id for media_id, user_id in batch[start : start + NAIVE_PER_MSET]}
            )
        pipe.execute()


def data_memory(client: redis.Redis) -> int:
    """Return used_memory less the clients' buffers, once the replicas have caught up."""
    replicas = int(client.info("replication")["connected_slaves"])
    if replicas:
        client.wait(replicas, 60_000)
    memory = client.info("memory")
    return int(memory["used_memory"]) - int(memory["mem_clients_slaves"]) - int(memory["mem_clients_normal"])


def not_listpack(client: redis.Redis) -> int:
    """Return how many keys of the database are hashes that outgrew the listpack encoding."""
    count = 0
    keys = list(client.scan_iter(count=10_000))
    for start in range(0, len(keys), BATCH):
        pipe = client.pipeline(transaction=False)
        for key in keys[start : start + BATCH]:
            pipe.object("encoding", key)
        count += sum(1 for encoding in pipe.execute() if encoding == b"hashtable")
    return count


def measure(
    client: redis.Redis,
    *,
    layout: str,
    load: Callable[[redis.Redis, Iterator[list[Pair]]], None],
    pairs: int,
    rate: int,
    shards: int,
    seed: int,
) -> Result:
    client.flushdb()
    before = data_memory(client)
    started = time.perf_counter()
    load(client, media_pairs(count=pairs, rate=rate, shards=shards, seed=seed))
    seconds = time.perf_counter() - started
    used = data_memory(client) - before
    result = Result(
        pairs=pairs,
        photos_per_second=rate,
        layout=layout,
        bytes_per_pair=round(used / pairs, 2),
        megabytes=round(used / 2**20, 1),
        keys=int(client.dbsize()),
        not_listpack=not_listpack(client) if layout == "hashes" else 0,
        seconds=round(seconds, 1),
    )
    client.flushdb()
    return result


def table(results: list[Result]) -> str:
    header = (
        f"{'pairs':>10}{'photos/s':>10}  {'layout':<8}{'B/pair':>8}{'MB':>9}{'keys':>10}"
        f"{'hashtable':>11}{'ratio':>7}{'s':>7}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(
            f"{r.pairs:>10}{r.photos_per_second:>10}  {r.layout:<8}"
            f"{r.bytes_per_pair:>8.2f}{r.megabytes:>9.1f}{r.keys:>10}{r.not_listpack:>11}{r.ratio_to_naive:>7.3f}{r.seconds:>7.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", default="1000000,10000000", help="comma-separated pair counts")
    parser.add_argument("--rates", default="25,100", help="comma-separated photos per second")
    parser.add_argument("--shards", type=int, default=MAX_LOGICAL_SHARDS, help="shards IDs are drawn from")
    parser.add_argument("--db", type=int, default=9, help="the spare Redis database to fill and flush")
    parser.add_argument("--seed", type=int, default=2011)
    parser.add_argument("--out", default=str(ROOT / "var" / "bench" / "photomap.json"))
    options = parser.parse_args(argv)

    if options.db == 0:
        parser.error("--db 0 is the application's database")
    url = urlsplit(os.environ.get("REDIS_URL", "redis://127.0.0.1:16379/0"))
    client = redis.Redis.from_url(url._replace(path=f"/{options.db}").geturl(), socket_timeout=120)
    config = client.config_get("hash-max-listpack-entries")
    print(f"bench: hash-max-listpack-entries {config['hash-max-listpack-entries']}", file=sys.stderr)

    results: list[Result] = []
    try:
        for pairs in (int(n) for n in options.pairs.split(",")):
            rates = [int(r) for r in options.rates.split(",")]
            common = {"pairs": pairs, "shards": options.shards, "seed": options.seed}
            print(f"bench: {pairs} pairs, naive keys", file=sys.stderr, flush=True)
            naive = measure(client, layout="naive", load=load_naive, rate=rates[0], **common)
            results.append(naive)
            for rate in rates:
                print(f"bench: {pairs} pairs at {rate} photos/s, hashes", file=sys.stderr, flush=True)
                hashes = measure(client, layout="hashes", load=load_map, rate=rate, **common)
                hashes.ratio_to_naive = round(hashes.bytes_per_pair / naive.bytes_per_pair, 3)
                results.append(hashes)
    finally:
        client.flushdb()

    print(table(results))
    out = Path(options.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "redis": client.info("server")["redis_version"],
        "shards": options.shards,
        "results": [asdict(r) for r in results],
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"bench: wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
