#!/usr/bin/env python3
"""What one request costs in round trips to each server, counted by the servers themselves.

Sends --requests requests of each endpoint one at a time through nginx and
reads, before and after, the counters of:
- both pgbouncers (`SHOW STATS`: statements and transactions per database;
  every statement is one round trip, BEGIN and COMMIT included);
- the Redis primary and replica (`INFO commandstats`: calls per command);
- memcached (`stats`: keys read and written; a get_many of several keys is
  one round trip but counts each key).
Divided by the number of requests: the servers' own count, so anything else
running on the stack at the same time (a worker's job) shows up as a
fraction. The median time of one request is printed beside it.

    .venv/bin/python bench/roundtrips.py                 # users_self, users_id
    .venv/bin/python bench/roundtrips.py --requests 200
    .venv/bin/python bench/roundtrips.py --only media,popular,tag,location,like,unlike,comment

The photo endpoints use bench/photos.py's fixtures. like, unlike and
comment are real writes, each request on another (user, media) pair (a
like that exists already would cost less than a new one); what they leave
is cleared afterwards.

bench/feeds.py runs count() on the warm feed too.
"""

import argparse
import json
import os
import socket
import statistics
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fixtures import PhotoFixtures, bench_accounts

ROOT = Path(__file__).resolve().parent.parent
PATHS = {
    "ping": "/ping",
    "users_self": "/v1/users/self?access_token={token}",
    "users_id": "/v1/users/{other_id}?access_token={token}",
}
PHOTO_READS = {
    "media": "/v1/media/{read_media}?access_token={token}",
    "popular": "/v1/media/popular?access_token={token}",
    "tag": "/v1/tags/benchmark/media/recent?access_token={token}",
    "location": "/v1/locations/{location_id}/media/recent?access_token={token}",
}
PHOTO_WRITES = {"like": ("POST", "likes"), "unlike": ("DELETE", "likes"), "comment": ("POST", "comments")}
COMMENT = b"text=lovely+light+at+the+pier"
FORM = "application/x-www-form-urlencoded"


def pgbouncer_stats(port: str) -> Counter[str]:
    """Statements and transactions per database since pgbouncer started."""
    found: Counter[str] = Counter()
    with psycopg.connect(
        host=os.environ["DB_HOST"],
        port=port,
        user=os.environ["DB_USER"],
        password=os.environ["DB_PASSWORD"],
        dbname="pgbouncer",
        autocommit=True,
        prepare_threshold=None,
    ) as conn:
        cursor = conn.cursor()
        cursor.execute("SHOW STATS")
        columns = [c.name for c in cursor.description or []]
        for row in cursor.fetchall():
            values = dict(zip(columns, row, strict=True))
            if values["database"] == "pgbouncer":
                continue
            found[f"{values['database']} statements"] += int(values["total_query_count"])
            found[f"{values['database']} transactions"] += int(values["total_xact_count"])
    return found


def redis_stats(url: str, label: str) -> Counter[str]:
    stats = redis.Redis.from_url(url).info("commandstats")
    return Counter(
        {f"redis {label} {name.removeprefix('cmdstat_')}": int(v["calls"]) for name, v in stats.items()}
    )


def memcached_stats() -> Counter[str]:
    found: Counter[str] = Counter()
    for server in os.environ["MEMCACHED_SERVERS"].split(","):
        host, port = server.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"stats\r\n")
            data = b""
            while not data.endswith(b"END\r\n"):
                data += sock.recv(65536)
        for line in data.decode().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in ("cmd_get", "cmd_set", "get_hits", "delete_hits", "incr_hits"):
                found[f"memcached {parts[1]} (keys)"] += int(parts[2])
    return found


def snapshot() -> Counter[str]:
    counts = pgbouncer_stats(os.environ["DB_PORT"])
    counts.update({f"{k} (standby)": v for k, v in pgbouncer_stats(os.environ["DB_REPLICA_PORT"]).items()})
    counts.update(redis_stats(os.environ["REDIS_URL"], "primary"))
    counts.update(redis_stats(os.environ["REDIS_REPLICA_URL"], "replica"))
    # The feed shards (feeds, news, the photo map), counted together: a request reaches one or two.
    for url in [
        u for u in os.environ.get("REDIS_FEED_URLS", "").split(",") if u and u != os.environ["REDIS_URL"]
    ]:
        counts.update(redis_stats(url, "feeds"))
    counts.update(memcached_stats())
    return counts


def count(url: str | list[urllib.request.Request], *, requests: int = 100) -> dict[str, Any]:
    """Per request: each server's counter that moved, and the median milliseconds of one request.

    `url` is fetched `requests` times, after one fetch to warm the caches;
    or a list of requests is sent once each, in order (writes: no warming).
    """
    if isinstance(url, str):
        urllib.request.urlopen(url).read()  # noqa: S310 (our own stack) warm: caches filled
        todo = [urllib.request.Request(url)] * requests  # noqa: S310 (our own stack)
    else:
        todo = url
    time.sleep(1.0)  # pgbouncer's counters catch up
    before = snapshot()
    timings = []
    for request in todo:
        started = time.perf_counter()
        with urllib.request.urlopen(request) as answer:  # noqa: S310 (our own stack)
            answer.read()
        timings.append((time.perf_counter() - started) * 1000)
    requests = len(todo)
    time.sleep(1.0)
    after = snapshot()
    after.subtract(before)
    per_request = {k: round(v / requests, 2) for k, v in sorted(after.items()) if v > 0 and "info" not in k}
    return {"median_ms": round(statistics.median(timings), 2), "per_request": per_request}


def photo_writes(
    base: str, name: str, fixtures: PhotoFixtures, requests: int
) -> list[urllib.request.Request]:
    """`requests` likes, unlikes or comments, each on another (user, media) pair, with the state they need."""
    from bench.fixtures import clear_comments, clear_likes, fill_likes

    method, what = PHOTO_WRITES[name]
    users = [user_id for user_id, _ in fixtures.likers]
    if name == "unlike":
        fill_likes(fixtures.like_media, users)
    else:
        clear_likes(fixtures.like_media, users)
        clear_comments(fixtures.like_media)
    media = list(fixtures.like_media)
    pairs = [(token, media_id) for _, token in fixtures.likers for media_id in media][:requests]
    return [
        urllib.request.Request(  # noqa: S310 (our own stack)
            f"{base}/v1/media/{media_id}/{what}?access_token={token}",
            data=COMMENT if what == "comments" else b"",
            headers={"Content-Type": FORM},
            method=method,
        )
        for token, media_id in pairs
    ]


def show(name: str, result: dict[str, Any]) -> str:
    lines = [f"{name}: {result['median_ms']} ms one at a time, per request:"]
    lines += [f"  {value:>7.2f}  {key}" for key, value in result["per_request"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-url", default=os.environ.get("PUBLIC_BASE_URL", "http://localhost:8000"))
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--only", default="ping,users_self,users_id")
    parser.add_argument("--out", default=str(ROOT / "var" / "bench" / "roundtrips.json"))
    options = parser.parse_args(argv)
    if urlsplit(options.base_url).scheme not in ("http", "https"):
        parser.error("--base-url must be http(s)")
    accounts = bench_accounts()
    values: dict[str, object] = {"token": accounts.token, "other_id": accounts.other_id}
    names = options.only.split(",")
    base = options.base_url.rstrip("/")
    fixtures = None
    if set(names) & (set(PHOTO_READS) | set(PHOTO_WRITES)):
        from bench.fixtures import photo_fixtures

        fixtures = photo_fixtures(uploaders=1, likers=max(2, options.requests // 50 + 1))
        values.update(read_media=fixtures.read_media, location_id=fixtures.location_id)
    report = {}
    for name in names:
        if name in PHOTO_WRITES:
            assert fixtures is not None
            result = count(photo_writes(base, name, fixtures, options.requests))
        else:
            result = count(base + {**PATHS, **PHOTO_READS}[name].format(**values), requests=options.requests)
        print(show(name, result))
        report[name] = result
    if fixtures is not None:
        from bench.fixtures import clear_comments, clear_likes

        clear_likes(fixtures.like_media, [user_id for user_id, _ in fixtures.likers])
        clear_comments(fixtures.like_media)
    out = Path(options.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
