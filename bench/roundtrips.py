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

from bench.fixtures import bench_accounts

ROOT = Path(__file__).resolve().parent.parent
PATHS = {
    "ping": "/ping",
    "users_self": "/v1/users/self?access_token={token}",
    "users_id": "/v1/users/{other_id}?access_token={token}",
}


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
    counts.update(memcached_stats())
    return counts


def count(url: str, *, requests: int = 100) -> dict[str, Any]:
    """Per request: each server's counter that moved, and the median milliseconds of one request."""
    urllib.request.urlopen(url).read()  # noqa: S310 (our own stack) warm: caches filled
    time.sleep(1.0)  # pgbouncer's counters catch up
    before = snapshot()
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        with urllib.request.urlopen(url) as answer:  # noqa: S310 (our own stack)
            answer.read()
        timings.append((time.perf_counter() - started) * 1000)
    time.sleep(1.0)
    after = snapshot()
    after.subtract(before)
    per_request = {k: round(v / requests, 2) for k, v in sorted(after.items()) if v > 0 and "info" not in k}
    return {"median_ms": round(statistics.median(timings), 2), "per_request": per_request}


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
    values = {"token": accounts.token, "other_id": accounts.other_id}
    report = {}
    for name in options.only.split(","):
        result = count(options.base_url.rstrip("/") + PATHS[name].format(**values), requests=options.requests)
        print(show(name, result))
        report[name] = result
    out = Path(options.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
