#!/usr/bin/env python3
"""Feed benchmarks against the running dev stack (`make bench` runs them).

1. Fan-out rate: follower feeds written per second by the real code path
   (feeds.actions.do_fan_out_chunk, in this process: the chunk's follower ids
   from the author's shard, then the pipelined add-if-built script) against a
   raw pipelined `ZADD feed 0 <member>` of the same member into the same keys,
   one pipeline per FEED_FANOUT_CHUNK feeds as the real path, in the same run.
   Also each half of the real path alone (the follower reads; the script
   writes with the ids in memory), to see where the time goes.
2. One post to all --followers followers through the real workers: a media
   row of the author on its shard, MEDIA_POSTED submitted to gearmand, timed
   until the fan-out record (rediskeys.fanout_progress) counts every chunk
   done; with the dev stack's 2 worker processes, then with extra
   `manage.py run_worker` processes started here for the run (--workers).
3. GET /v1/users/self/feed through nginx with wrk at 16 and 64 connections,
   next to `/ping` in the same round: a reader following --accounts accounts
   of --posts media each, so a page of 20 is real. `/v1/users/self` as the
   same reader runs in each round too: the floor of an authenticated read
   (token, rate limit, user object), to tell the feed's own cost from it.
   - warm: the feed in Redis, the cards and profiles in memcached;
   - cold-first: the feed key dropped and memcached flushed before each run:
     only the run's first request rebuilds the feed (the rest are warm);
   - cold-every: every request as another of --readers readers (bench/lua/
     feed.lua), all of whose feeds were dropped and memcached flushed before
     the run: each request rebuilds its feed from PostgreSQL (cards and
     profiles are warm again after the first requests: the readers follow
     the same accounts). Requests beyond --readers count as "exhausted".
   And single requests one at a time: warm, and the first read after the
   feed was dropped and memcached flushed.
4. Rebuild: do_rebuild_feed of one reader (--accounts followed, a full
   feed), median of --rebuild-repeat; then of --rebuild-feeds synthetic
   users following --rebuild-follows of the accounts each, one after the
   other as `manage.py rebuild_feeds` does (feeds/s).

Followers of the author and the rebuild users are synthetic ids from
SYNTHETIC up (no User row; edges only need ids), far above any real user
id. The author, the accounts and the readers are real users named
`bench_feed_*` (the feed read needs their profiles). Only the halves of the
follows that the measured paths read are written: the author's
`followed_by` edges, the readers' and rebuild users' `follows` edges.
Feeds of the synthetic followers hold only their built marker: a write to
them never trims. Everything is deleted at the end (and leftovers of an
interrupted run at the start). Each figure is the median of --repeat runs
(ratio: to /ping; /self: to /v1/users/self); results go to
var/bench/feeds.json. A failed check (a follower without the
post, a wrong feed, a failed request) makes the run invalid: exit 1.

    make bench
    .venv/bin/python bench/feeds.py
    .venv/bin/python bench/feeds.py --quick
    .venv/bin/python bench/feeds.py --only fanout,workers --followers 50000
"""

import argparse
import json
import logging
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import cputime, roundtrips  # noqa: E402
from bench.fixtures import bench_users, setup_django  # noqa: E402
from bench.run import Result, cpu_columns, parse_wrk, run_counted  # noqa: E402

setup_django()

import gearman  # noqa: E402
import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connections  # noqa: E402
from oauth2_provider.models import AccessToken  # noqa: E402

from feeds import store  # noqa: E402
from feeds.actions import do_fan_out_chunk, do_rebuild_feed  # noqa: E402
from feeds.jobs import MediaPosted  # noqa: E402
from instagram import rediskeys  # noqa: E402
from instagram.redis_client import (  # noqa: E402
    by_feed_shard,
    feed_index_of_media,
    feed_primary,
    feed_service,
    feed_shard_count,
    redis_primary,
    sentinel,
)
from photos import photomap  # noqa: E402
from photos.cache import CARDS  # noqa: E402
from photos.models import Media  # noqa: E402
from relationships.models import Edge, Kind  # noqa: E402
from relationships.selectors import follower_chunks, followers_in  # noqa: E402
from sharding.routing import shard_for_user, use_shard, user_shard  # noqa: E402
from users.models import User  # noqa: E402
from workers import functions  # noqa: E402
from workers.submit import submit_job_rollback_unsafe  # noqa: E402

LUA = ROOT / "bench" / "lua"
THREADS = 2  # wrk threads, as bench/run.py
PREFIX = "bench_feed_"  # usernames of every real account made here
SYNTHETIC = 10**12  # synthetic user ids start here: no User row, far above real ids
FOLLOWER_BASE = SYNTHETIC
REBUILD_BASE = SYNTHETIC + 10**9
REDIS_BATCH = 10_000  # commands per pipeline round trip in setup, checks and cleanup
EDGES = Edge._meta.db_table
LUA_LINE = re.compile(r"^lua: sent=(\d+) bad=(\d+) exhausted=(\d+) status=(\d+) body=(.*)$", re.MULTILINE)


class BenchError(RuntimeError):
    """A correctness check failed: the figures of this run mean nothing."""


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def by_shard(user_ids: Iterable[int]) -> dict[int, list[int]]:
    grouped: dict[int, list[int]] = defaultdict(list)
    for user_id in user_ids:
        grouped[user_shard(user_id)].append(user_id)
    return grouped


# ------------------------------------------------------------------ fixtures


@dataclass
class Fixtures:
    author: int = 0  # real account with the synthetic followers
    author_media: int = 0
    followers: list[int] = field(default_factory=list)  # edge order: chunk by chunk
    accounts: list[int] = field(default_factory=list)  # real accounts the readers follow
    media: list[int] = field(default_factory=list)  # theirs, newest first
    readers: list[tuple[int, str]] = field(default_factory=list)  # (user id, token)
    rebuild_users: list[int] = field(default_factory=list)


def insert_edges(pairs: Sequence[tuple[int, int]], *, kind: Kind) -> None:
    """Insert edges (user_id, other_id) of `kind` in bulk, one statement per shard; ids from next_id()."""
    grouped: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for pair in pairs:
        grouped[user_shard(pair[0])].append(pair)
    for shard, rows in grouped.items():
        with use_shard(shard) as context, connections[context.alias].cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {EDGES} (user_id, other_id, kind) "
                "SELECT u, o, %s FROM unnest(%s::bigint[], %s::bigint[]) AS e(u, o)",
                [kind.value, [u for u, _ in rows], [o for _, o in rows]],
            )


def feed_groups(user_ids: Iterable[int]) -> list[tuple[redis.Redis, list[int]]]:
    """`user_ids` by feed shard, each with its primary (instagram/redis_client.py)."""
    return [(feed_primary(index), ids) for index, ids in by_feed_shard(user_ids).items()]


def mark_feeds_built(user_ids: Sequence[int]) -> None:
    for client, ids in feed_groups(user_ids):
        for start in range(0, len(ids), REDIS_BATCH):
            with client.pipeline(transaction=False) as pipe:
                for user_id in ids[start : start + REDIS_BATCH]:
                    pipe.zadd(rediskeys.feed(user_id), {store.BUILT: 0})
                    pipe.expire(rediskeys.feed(user_id), 3600)
                pipe.execute()


def drop_feeds(user_ids: Iterable[int]) -> None:
    for client, ids in feed_groups(user_ids):
        for start in range(0, len(ids), REDIS_BATCH):
            client.delete(*[rediskeys.feed(u) for u in ids[start : start + REDIS_BATCH]])


def wait_for_standby(timeout: float = 30.0) -> None:
    """Wait until the standby replayed every write made so far (the reads measured here go to it)."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        lsn = cursor.fetchone()[0]
    deadline = time.monotonic() + timeout
    replica = settings.REPLICA_DATABASES["default"]
    while True:
        with connections[replica].cursor() as cursor:
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn])
            if cursor.fetchone()[0]:
                return
        if time.monotonic() > deadline:
            raise BenchError(f"the standby did not reach {lsn} in {timeout:.0f} s")
        time.sleep(0.05)


def make_author(fx: Fixtures, *, followers: int) -> None:
    """The author and its synthetic followers (`followed_by` edges), their feeds built, and one media."""
    author = User.objects.create(
        username=f"{PREFIX}author",
        full_name="Bench Feed Author",
        password=make_password(None),
        followed_by_count=followers,  # at most the threshold: fanned out, not merged at read time
        media_count=1,  # its media, below: the counts stay what the app would keep (igctl checks them)
    )
    fx.author = author.id
    ids = list(range(FOLLOWER_BASE, FOLLOWER_BASE + followers))
    insert_edges([(author.id, follower) for follower in ids], kind=Kind.FOLLOWED_BY)
    with shard_for_user(author.id):
        fx.author_media = Media.objects.create(
            user_id=author.id, caption="a benchmark post", object_prefix=f"bench/{os.urandom(8).hex()}"
        ).id
    photomap.remember_owner(media_id=fx.author_media, user_id=author.id)
    fx.followers = [
        follower
        for after, last in follower_chunks(owner_id=author.id, chunk=settings.FEED_FANOUT_CHUNK)
        for follower in followers_in(owner_id=author.id, after_edge=after, last_edge=last)
    ]
    if sorted(fx.followers) != ids:
        raise BenchError(f"the author's shard lists {len(fx.followers)} followers, not {followers}")
    mark_feeds_built(fx.followers)


def make_accounts(fx: Fixtures, *, accounts: int, posts: int, readers: int) -> None:
    """Accounts with `posts` media each, and readers (with tokens) who follow all of them."""
    fx.accounts = [user_id for user_id, _ in bench_users(f"{PREFIX}a", accounts)]
    fx.readers = bench_users(f"{PREFIX}r", readers)
    media: list[tuple[int, int]] = []
    for shard, owners in by_shard(fx.accounts).items():
        with use_shard(shard):  # one create a row: bulk_create does not return next_id()'s ids
            rows = [
                Media.objects.create(
                    user_id=owner, caption=f"post {n}", object_prefix=f"bench/{os.urandom(8).hex()}"
                )
                for owner in owners
                for n in range(posts)
            ]
        media.extend((row.id, row.user_id) for row in rows)
    # The counts the app keeps beside each post: igctl's orphan and count checks trust them.
    User.objects.filter(id__in=fx.accounts).update(media_count=posts)
    for index in range(feed_shard_count()):
        with feed_primary(index).pipeline(transaction=False) as pipe:
            photomap.remember_owners([(m, u) for m, u in media if feed_index_of_media(m) == index], pipe=pipe)
            pipe.execute()
    fx.media = sorted((media_id for media_id, _ in media), reverse=True)
    insert_edges(
        [(reader, account) for reader, _ in fx.readers for account in fx.accounts], kind=Kind.FOLLOWS
    )


def make_rebuild_users(fx: Fixtures, *, count: int, follows: int) -> None:
    rng = random.Random(2011)
    fx.rebuild_users = list(range(REBUILD_BASE, REBUILD_BASE + count))
    insert_edges(
        [(user, account) for user in fx.rebuild_users for account in rng.sample(fx.accounts, follows)],
        kind=Kind.FOLLOWS,
    )


def cleanup(*, followers: int, rebuild_feeds: int) -> None:
    """Delete every account, media, edge, feed and cache entry this benchmark makes (idempotent)."""
    users = list(User.objects.filter(username__startswith=PREFIX).values_list("id", flat=True))
    media: list[int] = []
    for shard, ids in by_shard(users).items():
        with use_shard(shard):
            media += Media.objects.filter(user_id__in=ids).values_list("id", flat=True)
            Media.objects.filter(user_id__in=ids).delete()
            Edge.objects.filter(user_id__in=ids).delete()
    for shard in range(settings.LOGICAL_SHARDS):  # synthetic users' edges, wherever an earlier run put them
        with use_shard(shard) as context, connections[context.alias].cursor() as cursor:
            cursor.execute(f"DELETE FROM {EDGES} WHERE user_id >= %s", [SYNTHETIC])
    client = redis_primary()
    drop_feeds(users)
    drop_feeds(range(FOLLOWER_BASE, FOLLOWER_BASE + followers))
    drop_feeds(range(REBUILD_BASE, REBUILD_BASE + rebuild_feeds))
    with client.pipeline(transaction=False) as pipe:
        for media_id in media:
            pipe.delete(rediskeys.fanout_progress(media_id))
            photomap.forget_owner(media_id=media_id, pipe=pipe)
        pipe.execute()
    CARDS.forget_now(media)
    AccessToken.objects.filter(user_id__in=users).delete()
    User.objects.filter(id__in=users).delete()
    if users:
        say(f"cleaned up {len(users)} accounts, {len(media)} media and their feeds")


# ----------------------------------------------------------------- checks


def count_with(member: str, user_ids: Sequence[int]) -> int:
    """How many of `user_ids`' feeds hold `member`."""
    found = 0
    for client, ids in feed_groups(user_ids):
        for start in range(0, len(ids), REDIS_BATCH):
            with client.pipeline(transaction=False) as pipe:
                for user_id in ids[start : start + REDIS_BATCH]:
                    pipe.zscore(rediskeys.feed(user_id), member)
                found += sum(1 for score in pipe.execute() if score is not None)
    return found


def take_back(member: str, user_ids: Sequence[int]) -> None:
    for client, ids in feed_groups(user_ids):
        for start in range(0, len(ids), REDIS_BATCH):
            with client.pipeline(transaction=False) as pipe:
                for user_id in ids[start : start + REDIS_BATCH]:
                    pipe.zrem(rediskeys.feed(user_id), member)
                pipe.execute()


def expect_everywhere(member: str, user_ids: Sequence[int], what: str) -> None:
    found = count_with(member, user_ids)
    if found != len(user_ids):
        raise BenchError(f"{what}: {found} of {len(user_ids)} follower feeds hold the post")


# --------------------------------------------------------- 1. fan-out rate


def raw_write(chunks: list[list[int]], member: str) -> None:
    """The baseline: ZADD the member into every feed, one pipeline per chunk and feed shard, nothing else."""
    for chunk in chunks:
        for client, ids in feed_groups(chunk):
            with client.pipeline(transaction=False) as pipe:
                for user_id in ids:
                    pipe.zadd(rediskeys.feed(user_id), {member: 0})
                pipe.execute()


def resp(*parts: bytes) -> bytes:
    """One command in the Redis protocol."""
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def redis_socket(index: int) -> socket.socket:
    """A raw connection to feed shard `index`'s primary (found as the app finds it)."""
    url = urlsplit(settings.REDIS_FEED_URLS[index])
    found = sentinel()
    address = (url.hostname or "127.0.0.1", url.port or 6379)
    if found is not None:
        address = found.discover_master(feed_service(index))  # type: ignore[no-untyped-call]
    sock = socket.create_connection(address, timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    setup = [resp(b"AUTH", url.password.encode())] if url.password else []
    setup.append(resp(b"SELECT", (url.path.strip("/") or "0").encode()))
    sock.sendall(b"".join(setup))
    if read_replies(sock, len(setup)) != b"+OK\r\n" * len(setup):
        raise BenchError("Redis refused AUTH or SELECT")
    return sock


def read_replies(sock: socket.socket, count: int) -> bytes:
    """Read `count` one-line replies (integers, +OK, errors)."""
    buffer = b""
    while buffer.count(b"\r\n") < count:
        received = sock.recv(1 << 20)
        if not received:
            raise BenchError("Redis closed the connection")
        buffer += received
    return buffer


def resp_write(socks: list[socket.socket], chunks: list[list[int]], member: str) -> None:
    """The floor: the same ZADDs as protocol bytes (a socket a feed shard, a write a chunk), no client."""
    value = member.encode()
    for chunk in chunks:
        for index, ids in by_feed_shard(chunk).items():
            socks[index].sendall(
                b"".join(resp(b"ZADD", rediskeys.feed(u).encode(), b"0", value) for u in ids)
            )
            if read_replies(socks[index], len(ids)) != b":1\r\n" * len(ids):
                raise BenchError("a raw ZADD did not add its member")


def bench_fanout_rate(fx: Fixtures, *, repeat: int) -> dict[str, Any]:
    ranges = follower_chunks(owner_id=fx.author, chunk=settings.FEED_FANOUT_CHUNK)
    chunks = [followers_in(owner_id=fx.author, after_edge=a, last_edge=b) for a, b in ranges]
    media_id, member, n = fx.author_media, store.member(fx.author_media), len(fx.followers)
    runs: list[dict[str, float]] = []
    for attempt in range(repeat):
        say(f"fan-out rate, {n} followers ({attempt + 1}/{repeat})")
        run: dict[str, float] = {}

        started = time.perf_counter()
        written = sum(
            do_fan_out_chunk(media_id=media_id, owner_id=fx.author, after_edge=a, last_edge=b)
            for a, b in ranges
        )
        run["real_s"] = time.perf_counter() - started
        if written != n:
            raise BenchError(f"do_fan_out_chunk wrote {written} feeds of {n}")
        expect_everywhere(member, fx.followers, "real fan-out")
        take_back(member, fx.followers)

        started = time.perf_counter()
        raw_write(chunks, member)
        run["raw_s"] = time.perf_counter() - started
        expect_everywhere(member, fx.followers, "raw ZADD")
        take_back(member, fx.followers)

        socks = [redis_socket(index) for index in range(feed_shard_count())]
        try:
            started = time.perf_counter()
            resp_write(socks, chunks, member)
            run["resp_s"] = time.perf_counter() - started
        finally:
            for sock in socks:
                sock.close()
        expect_everywhere(member, fx.followers, "RESP ZADD")
        take_back(member, fx.followers)

        started = time.perf_counter()
        for a, b in ranges:
            followers_in(owner_id=fx.author, after_edge=a, last_edge=b)
        run["reads_s"] = time.perf_counter() - started

        started = time.perf_counter()
        for ids in chunks:
            store.add_to_many_feeds(user_ids=ids, media_id=media_id)
        run["script_s"] = time.perf_counter() - started
        expect_everywhere(member, fx.followers, "script writes")
        take_back(member, fx.followers)
        redis_primary().delete(rediskeys.fanout_progress(media_id))
        runs.append(run)

    def rate(key: str) -> float:
        return round(n / statistics.median(r[key] for r in runs), 1)

    result: dict[str, Any] = {
        "followers": n,
        "chunk": settings.FEED_FANOUT_CHUNK,
        "chunks": len(ranges),
        "real_feeds_per_s": rate("real_s"),
        "raw_zadd_feeds_per_s": rate("raw_s"),
        "resp_zadd_feeds_per_s": rate("resp_s"),
        "follower_reads_per_s": rate("reads_s"),
        "script_writes_feeds_per_s": rate("script_s"),
        "runs": runs,
    }
    result["ratio"] = round(result["real_feeds_per_s"] / result["raw_zadd_feeds_per_s"], 3)
    result["ratio_to_resp"] = round(result["real_feeds_per_s"] / result["resp_zadd_feeds_per_s"], 3)
    return result


# ------------------------------------------------------- 2. through workers


def fanout_workers() -> int:
    """Worker processes gearmand knows for the fan-out chunk function."""
    admin = gearman.GearmanAdminClient(settings.GEARMAN_SERVERS)
    try:
        for status in admin.get_status():
            if status["task"] == functions.FEED_FANOUT:
                return int(status["workers"])
        return 0
    finally:
        admin.shutdown()


@contextmanager
def extra_workers(count: int, *, log_path: Path) -> Iterator[int]:
    """Run `count` more `manage.py run_worker` processes (this environment) until the block ends.

    Yields how many workers gearmand then knows for the fan-out function.
    """
    before = fanout_workers()
    processes: list[subprocess.Popen[bytes]] = []
    log_path.parent.mkdir(parents=True, exist_ok=True)  # a first run on a fresh checkout has no var/bench
    with log_path.open("ab") as out:
        try:
            for _ in range(count):
                processes.append(
                    subprocess.Popen(
                        [sys.executable, str(ROOT / "manage.py"), "run_worker"],
                        cwd=ROOT,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
            deadline = time.monotonic() + 60
            while (known := fanout_workers()) < before + count:
                if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                    raise BenchError(f"{count} extra workers did not register (see {log_path})")
                time.sleep(0.2)
            yield known
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)  # finishes its current job, then exits
            for process in processes:
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def post_through_workers(fx: Fixtures, *, timeout: float) -> dict[str, float]:
    """Submit MEDIA_POSTED for the author's media; time until every fan-out chunk is done."""
    client = redis_primary()
    media_id, member = fx.author_media, store.member(fx.author_media)
    progress = rediskeys.fanout_progress(media_id)
    take_back(member, fx.followers)
    client.delete(progress)
    submitted = time.time()
    started = time.perf_counter()
    submit_job_rollback_unsafe(MediaPosted(media_id=media_id, user_id=fx.author))
    while True:
        raw = cast(dict[bytes, bytes], client.hgetall(progress))
        record = {k.decode(): v.decode() for k, v in raw.items()}
        if "chunks" in record and int(record.get("chunks_done", 0)) >= int(record["chunks"]):
            break
        if time.perf_counter() - started > timeout:
            raise BenchError(f"the fan-out of media {media_id} did not finish in {timeout:.0f} s: {record}")
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    if int(record["feeds_written"]) != len(fx.followers):
        raise BenchError(f"the workers wrote {record['feeds_written']} feeds of {len(fx.followers)}")
    expect_everywhere(member, fx.followers, "through the workers")
    return {
        "seconds": elapsed,
        "queue_s": float(record["started"]) - submitted,  # submit to the MEDIA_POSTED job starting
        "chunks": int(record["chunks"]),
    }


def bench_workers(fx: Fixtures, *, counts: list[int], repeat: int, timeout: float) -> list[dict[str, Any]]:
    base = fanout_workers()
    if base == 0:
        raise BenchError("no worker serves the fan-out function: is the dev stack up?")
    results = []
    for wanted in counts:
        with extra_workers(max(0, wanted - base), log_path=ROOT / "var" / "bench" / "feeds-workers.log") as n:
            runs = []
            for attempt in range(repeat):
                say(f"one post to {len(fx.followers)} followers, {n} workers ({attempt + 1}/{repeat})")
                runs.append(post_through_workers(fx, timeout=timeout))
        seconds = statistics.median(r["seconds"] for r in runs)
        results.append(
            {
                "workers": n,
                "followers": len(fx.followers),
                "seconds": round(seconds, 3),
                "feeds_per_s": round(len(fx.followers) / seconds, 1),
                "queue_s": round(statistics.median(r["queue_s"] for r in runs), 3),
                "runs": runs,
            }
        )
    take_back(store.member(fx.author_media), fx.followers)
    return results


# ----------------------------------------------------------- 3. feed reads


@dataclass
class ReadCell(Result):
    exhausted: int = 0  # cold-every: requests after the readers ran out (warm ones)
    ratio_to_users_self: float = 1.0


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 (our own stack)
        body: dict[str, Any] = json.loads(answer.read())
    return body


def check_page(fx: Fixtures, base: str, token: str) -> None:
    """The reader's first page is the 20 newest media of the accounts, as v1 media objects."""
    page = get_json(f"{base}/v1/users/self/feed?access_token={token}")
    got = [int(item["id"].partition("_")[0]) for item in page["data"]]
    if got != fx.media[:20] or "next_max_id" not in page.get("pagination", {}):
        raise BenchError(f"the feed's first page is {got[:3]}... not the 20 newest media {fx.media[:3]}...")


def wrk_lua(args: list[str], *, connections: int, duration: int) -> tuple[float, float, float, int, int]:
    """Run wrk with a Lua script; return requests/s, p50, p99, failed requests and exhausted ones."""
    command = ["wrk", f"-t{THREADS}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "--latency"]
    output = subprocess.run([*command, *args], check=True, capture_output=True, text=True).stdout
    rps, p50, p99, errors = parse_wrk(output)
    lua = LUA_LINE.search(output)
    if lua is None:
        raise BenchError(f"the Lua script printed no summary: {output}")
    bad, exhausted = int(lua.group(2)), int(lua.group(3))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors += bad - (int(non_2xx.group(1)) if non_2xx else 0)
    if bad:
        say(f"cold-every: {bad} failed, last HTTP {lua.group(4)}: {lua.group(5)}")
    return rps, p50, p99, errors, exhausted


def bench_reads(
    fx: Fixtures, *, base: str, connections: list[int], duration: int, repeat: int, singles: int, files: Path
) -> tuple[list[ReadCell], dict[str, float]]:
    reader, token = fx.readers[0]
    reader_ids = [user_id for user_id, _ in fx.readers]
    tokens = files / "readers.txt"
    tokens.write_text("".join(f"{t}\n" for _, t in fx.readers))
    feed_url = f"{base}/v1/users/self/feed?access_token={token}"
    self_url = f"{base}/v1/users/self?access_token={token}"  # the cheapest authenticated read: a reference
    check_page(fx, base, token)

    def drop_one() -> None:
        store.drop(user_id=reader)
        cache.clear()

    def drop_all() -> None:
        drop_feeds(reader_ids)
        cache.clear()

    cells: list[ReadCell] = []
    for conns in connections:
        runs: dict[str, list[tuple[float, float, float, int, int]]] = defaultdict(list)
        cpu: dict[str, list[dict[str, float]]] = defaultdict(list)  # CPU ms per request, by program
        for attempt in range(repeat):
            say(f"feed reads at {conns} connections ({attempt + 1}/{repeat})")
            for name, url in (("ping", f"{base}/ping"), ("users self", self_url), ("feed warm", feed_url)):
                result, spent = run_counted(url, connections=conns, duration=duration, threads=2)
                runs[name].append((*result, 0))
                cpu[name].append(spent)
            drop_one()
            result, spent = run_counted(feed_url, connections=conns, duration=duration, threads=2)
            runs["feed cold-first"].append((*result, 0))
            cpu["feed cold-first"].append(spent)
            drop_all()
            script = ["-s", str(LUA / "feed.lua"), f"{base}/", "--", str(tokens), str(THREADS), "200"]
            runs["feed cold-every"].append(wrk_lua(script, connections=conns, duration=duration))
            check_page(fx, base, token)
        ping = statistics.median(r[0] for r in runs["ping"])
        users_self = statistics.median(r[0] for r in runs["users self"])
        for name, measured in runs.items():
            rps = statistics.median(r[0] for r in measured)
            cells.append(
                ReadCell(
                    name=name,
                    connections=conns,
                    requests_per_second=round(rps, 1),
                    p50_ms=round(statistics.median(r[1] for r in measured), 2),
                    p99_ms=round(statistics.median(r[2] for r in measured), 2),
                    errors=sum(r[3] for r in measured),
                    ratio_rps=round(rps / ping, 3),
                    exhausted=sum(r[4] for r in measured),
                    ratio_to_users_self=round(rps / users_self, 3),
                    cpu_ms=cputime.median_per_request(cpu[name]),
                )
            )

    say(f"single feed requests, {singles} warm and {singles} cold")

    def timed_get() -> float:
        started = time.perf_counter()
        get_json(feed_url)
        return (time.perf_counter() - started) * 1000

    timed_get()
    warm = [timed_get() for _ in range(singles)]
    cold = []
    for _ in range(singles):
        drop_one()
        cold.append(timed_get())
    single = {
        "warm_ms": round(statistics.median(warm), 2),
        "cold_first_read_ms": round(statistics.median(cold), 2),
        "ping_ms": round(statistics.median(timed_ping(base) for _ in range(singles)), 2),
    }
    return cells, single


def timed_ping(base: str) -> float:
    started = time.perf_counter()
    get_json(f"{base}/ping")
    return (time.perf_counter() - started) * 1000


# --------------------------------------------------------------- 4. rebuild


def bench_rebuild(fx: Fixtures, *, repeat: int, follows: int, posts: int) -> dict[str, Any]:
    reader = fx.readers[0][0]
    full = min(len(fx.media), settings.FEED_SIZE)
    times = []
    say(f"rebuild of one feed following {len(fx.accounts)} accounts, {repeat} times")
    for _ in range(repeat):
        store.drop(user_id=reader)
        started = time.perf_counter()
        entries = do_rebuild_feed(user_id=reader)
        times.append((time.perf_counter() - started) * 1000)
        if entries != full:
            raise BenchError(f"the rebuilt feed has {entries} entries, not {full}")
    users = fx.rebuild_users
    say(f"rebuild of {len(users)} feeds following {follows} accounts each")
    drop_feeds(users)
    started = time.perf_counter()
    wrong = [user for user in users if do_rebuild_feed(user_id=user) != follows * posts]
    seconds = time.perf_counter() - started
    if wrong:
        raise BenchError(f"{len(wrong)} rebuilt feeds do not hold {follows * posts} entries, e.g. {wrong[0]}")
    return {
        "one_feed": {"follows": len(fx.accounts), "entries": full, "ms": round(statistics.median(times), 2)},
        "many": {
            "feeds": len(users),
            "follows": follows,
            "entries": follows * posts,
            "seconds": round(seconds, 2),
            "feeds_per_s": round(len(users) / seconds, 1),
        },
        "one_feed_runs_ms": [round(t, 2) for t in times],
    }


# ------------------------------------------------------------------ report


def report_text(report: dict[str, Any]) -> str:
    lines = []
    if fanout := report.get("fanout_rate"):
        rows = [
            ("real (do_fan_out_chunk)", fanout["real_feeds_per_s"]),
            ("raw ZADD, redis-py pipeline a chunk (the baseline)", fanout["raw_zadd_feeds_per_s"]),
            ("raw ZADD, protocol bytes on a socket a chunk", fanout["resp_zadd_feeds_per_s"]),
            ("  real's follower reads alone (followers_in)", fanout["follower_reads_per_s"]),
            ("  real's script writes alone (add_to_many_feeds)", fanout["script_writes_feeds_per_s"]),
        ]
        lines.append(f"fan-out to {fanout['followers']} built feeds, chunks of {fanout['chunk']}:    feeds/s")
        lines += [f"  {label:<52}{value:>10.0f}" for label, value in rows]
        lines.append(f"  {'ratio real / redis-py ZADD':<52}{fanout['ratio']:>10.3f}")
        lines.append(f"  {'ratio real / protocol-bytes ZADD':<52}{fanout['ratio_to_resp']:>10.3f}")
    if workers := report.get("workers"):
        lines.append(f"{'one post through the workers':<36}{'workers':>8}{'seconds':>10}{'feeds/s':>10}")
        for w in workers:
            lines.append(
                f"  to {w['followers']} followers{'':<15}{w['workers']:>8}{w['seconds']:>10.2f}"
                f"{w['feeds_per_s']:>10.0f}"
            )
    if reads := report.get("reads"):
        header = f"{'GET /v1/users/self/feed':<22}{'conns':>6}{'req/s':>9}{'ratio':>8}{'/self':>7}"
        lines += [header + f"{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'exh.':>6}{'app ms':>8}{'servers':>8}"
                  f"{'ceiling':>8}"]  # fmt: skip
        pings = {r["connections"]: r.get("cpu_ms", {}) for r in reads if r["name"] == "ping"}
        for r in reads:
            cpu = cpu_columns(r.get("cpu_ms", {}), pings.get(r["connections"], {}))
            lines.append(
                f"  {r['name']:<20}{r['connections']:>6}{r['requests_per_second']:>9.1f}"
                f"{r['ratio_rps']:>8.3f}{r['ratio_to_users_self']:>7.2f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
                f"{r['errors']:>8}{r['exhausted']:>6}{cpu}"
            )
        single = report["single_requests"]
        lines.append(
            f"  one request at a time: ping {single['ping_ms']:.2f} ms, feed warm {single['warm_ms']:.2f} "
            f"ms, first read after drop + flush {single['cold_first_read_ms']:.2f} ms"
        )
    if rebuild := report.get("rebuild"):
        one, many = rebuild["one_feed"], rebuild["many"]
        lines += [
            f"rebuild one feed ({one['follows']} followed, {one['entries']} entries): {one['ms']:.2f} ms",
            f"rebuild {many['feeds']} feeds ({many['follows']} followed, {many['entries']} entries each): "
            f"{many['seconds']:.1f} s, {many['feeds_per_s']:.0f} feeds/s",
        ]
    return "\n".join(lines)


ALL_BENCHES = ("fanout", "workers", "read", "rebuild")


def parse_options(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line; --quick shrinks the sizes, --only names the benchmarks (all by default)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-url", default=os.environ.get("PUBLIC_BASE_URL", "http://localhost:8000"))
    parser.add_argument("--only", default="", help="comma-separated: fanout, workers, read, rebuild")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the median is reported")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", default="16,64")
    parser.add_argument("--followers", type=int, default=100_000, help="the author's synthetic followers")
    parser.add_argument("--workers", default="2,4", help="worker processes for the fan-out through gearmand")
    parser.add_argument("--accounts", type=int, default=200, help="accounts every reader follows")
    parser.add_argument("--posts", type=int, default=3, help="media of each account")
    parser.add_argument("--readers", type=int, default=2000, help="readers the cold-every run rotates over")
    parser.add_argument("--singles", type=int, default=20, help="one-at-a-time requests, warm and cold")
    parser.add_argument("--rebuild-repeat", type=int, default=20)
    parser.add_argument("--rebuild-feeds", type=int, default=10_000)
    parser.add_argument("--rebuild-follows", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="smaller and shorter: a look, not figures")
    parser.add_argument("--out", default=str(ROOT / "var" / "bench" / "feeds.json"))
    options = parser.parse_args(argv)
    if options.quick:
        options.followers, options.duration, options.repeat = 20_000, 2, 1
        options.readers, options.rebuild_feeds, options.rebuild_repeat, options.singles = 500, 1000, 5, 5
    options.only = {name.strip() for name in options.only.split(",") if name.strip()} or set(ALL_BENCHES)
    if options.followers > settings.FEED_FANOUT_MAX_FOLLOWERS:
        parser.error(f"--followers above FEED_FANOUT_MAX_FOLLOWERS ({settings.FEED_FANOUT_MAX_FOLLOWERS}): "
                     "the author would not be fanned out")  # fmt: skip
    if options.rebuild_follows > options.accounts:
        parser.error("--rebuild-follows is more than --accounts")
    options.base_url = options.base_url.rstrip("/")
    return options


def make_fixtures(fx: Fixtures, options: argparse.Namespace) -> None:
    """Create what the chosen benchmarks read, then wait until the standby has it too."""
    if options.only & {"fanout", "workers"}:
        say(f"fixtures: an author with {options.followers} followers")
        make_author(fx, followers=options.followers)
    if options.only & {"read", "rebuild"}:
        say(f"fixtures: {options.accounts} accounts x {options.posts} media, {options.readers} readers")
        make_accounts(fx, accounts=options.accounts, posts=options.posts, readers=options.readers)
    if "rebuild" in options.only:
        say(f"fixtures: {options.rebuild_feeds} users following {options.rebuild_follows} accounts each")
        make_rebuild_users(fx, count=options.rebuild_feeds, follows=options.rebuild_follows)
    wait_for_standby()


def run_benches(fx: Fixtures, options: argparse.Namespace, report: dict[str, Any]) -> None:
    """Run the chosen benchmarks in order, each adding its figures to `report`."""
    if "fanout" in options.only:
        report["fanout_rate"] = bench_fanout_rate(fx, repeat=options.repeat)
    if "workers" in options.only:
        counts = [int(n) for n in options.workers.split(",")]
        report["workers"] = bench_workers(fx, counts=counts, repeat=options.repeat, timeout=120)
    if "read" in options.only:
        base = options.base_url
        with tempfile.TemporaryDirectory(prefix="bench-feeds-") as tmp:
            cells, single = bench_reads(
                fx,
                base=base,
                connections=[int(c) for c in options.connections.split(",")],
                duration=options.duration,
                repeat=options.repeat,
                singles=options.singles,
                files=Path(tmp),
            )
        report["reads"] = [asdict(c) for c in cells]
        report["single_requests"] = single
        # Each server's own count of what one warm request costs (bench/roundtrips.py).
        token = fx.readers[0][1]
        report["round_trips"] = {
            name: roundtrips.count(f"{base}{path}?access_token={token}", requests=50)
            for name, path in (("users self", "/v1/users/self"), ("feed warm", "/v1/users/self/feed"))
        }
    if "rebuild" in options.only:
        report["rebuild"] = bench_rebuild(
            fx, repeat=options.rebuild_repeat, follows=options.rebuild_follows, posts=options.posts
        )


def publish(report: dict[str, Any], out: Path) -> bool:
    """Print the report and its notes, write it to `out`; return whether every read succeeded."""
    print(report_text(report))
    for name, counted in report.get("round_trips", {}).items():
        print(roundtrips.show(name, counted))
    failed = [r for r in report.get("reads", []) if r["errors"]]
    for r in failed:
        print(f"INVALID: {r['name']} at {r['connections']}: {r['errors']} failed requests")
    for r in report.get("reads", []):
        if r["exhausted"]:
            print(f"note: {r['name']} at {r['connections']}: {r['exhausted']} requests after readers ran out")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    say(f"wrote {out}")
    return not failed


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    highest = User.objects.order_by("-id").values_list("id", flat=True).first() or 0
    if highest >= SYNTHETIC:
        raise BenchError(f"user ids reach {highest}: the synthetic ids from {SYNTHETIC} would collide")
    logging.getLogger("workers").setLevel(logging.WARNING)  # not a line per job submitted
    sizes = {"followers": options.followers, "rebuild_feeds": options.rebuild_feeds}
    report: dict[str, Any] = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "base_url": options.base_url,
        "cpus": os.cpu_count(),
        "repeat": options.repeat,
        "duration_s": options.duration,
        "fanout_chunk": settings.FEED_FANOUT_CHUNK,
        "feed_size": settings.FEED_SIZE,
    }
    cleanup(**sizes)  # what an interrupted run left
    fx = Fixtures()
    try:
        started = time.perf_counter()
        make_fixtures(fx, options)
        report["fixtures_s"] = round(time.perf_counter() - started, 1)
        run_benches(fx, options, report)
    finally:
        say("cleaning up")
        cleanup(**sizes)
    return 0 if publish(report, Path(options.out)) else 1


if __name__ == "__main__":
    sys.exit(main())
