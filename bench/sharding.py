#!/usr/bin/env python3
"""Sharding benchmarks against the running dev stack (`make bench` runs them).

- IDs per second from a shard's next_id() vs a plain nextval() on the same
  server in the same run: in-server (one statement makes 200k IDs) and as
  clients see it (pgbench, 8 clients, one statement per ID, via pgbouncer).
- Time to create 2048 logical shards with all their tables, in scratch
  databases that are dropped afterwards.
- Fetching 20 media spread over 20 shards: queries and ms, without and with
  memcached.

Every figure is the median of --repeat runs; results go to
var/bench/sharding.json.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import django

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "instagram.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connections  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from deploy.localstack.postgres import DB_USER, psql  # noqa: E402
from deploy.localstack.profiles import PROFILES  # noqa: E402
from instagram.pgbouncer import pgbouncer_connection  # noqa: E402
from photos.models import Media  # noqa: E402
from sharding.multiget import fetch_many, object_cache_key  # noqa: E402
from sharding.routing import shard_for_user, shard_map, user_shard  # noqa: E402
from sharding.sql import schema_name  # noqa: E402


def median_of(repeat: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(repeat))


def ids_in_server(sql_function: str, *, count: int = 200_000) -> float:
    with pgbouncer_connection("shard0") as conn:
        started = time.perf_counter()
        conn.execute(f"SELECT count({sql_function}) FROM generate_series(1, {count})")
        return count / (time.perf_counter() - started)


def ids_per_statement(sql_function: str, *, clients: int = 8, seconds: int = 5) -> float:
    """IDs per second as inserting clients see them: pgbench, one statement per ID, via pgbouncer."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        script.write(f"SELECT {sql_function};\n")
        script.flush()
        result = subprocess.run(
            [
                "pgbench",
                "-n",
                "-M",
                "simple",
                "-c",
                str(clients),
                "-j",
                "2",
                "-T",
                str(seconds),
                "-f",
                script.name,
                "-h",
                settings.DB_HOST,
                "-p",
                str(settings.DB_PORT),
                "-U",
                settings.DB_USER,
                "shard0",
            ],
            env={**os.environ, "PGPASSWORD": settings.DB_PASSWORD},
            capture_output=True,
            text=True,
            check=True,
        )
    match = re.search(r"^tps = ([\d.]+)", result.stdout, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"pgbench printed no tps: {result.stdout}{result.stderr}")
    return float(match.group(1))


def bench_ids(repeat: int) -> dict[str, float]:
    with pgbouncer_connection("shard0") as conn:
        conn.execute("CREATE SEQUENCE IF NOT EXISTS public.bench_plain")
    next_id = f"{schema_name(1)}.next_id()"
    plain = "nextval('public.bench_plain')"
    result = {
        "in_server_next_id_per_s": median_of(repeat, lambda: ids_in_server(next_id)),
        "in_server_nextval_per_s": median_of(repeat, lambda: ids_in_server(plain)),
        "per_statement_next_id_per_s": median_of(repeat, lambda: ids_per_statement(next_id)),
        "per_statement_nextval_per_s": median_of(repeat, lambda: ids_per_statement(plain)),
    }
    result["in_server_ratio"] = result["in_server_next_id_per_s"] / result["in_server_nextval_per_s"]
    result["per_statement_ratio"] = (
        result["per_statement_next_id_per_s"] / result["per_statement_nextval_per_s"]
    )
    return result


def bench_create_shards(count: int) -> dict[str, float]:
    """Create `count` shards in scratch databases (dropped afterwards); return seconds."""
    profile = PROFILES["dev"]
    names = ["bench_main", "bench_shard0", "bench_shard1"]
    for name in names:
        psql(profile, f"DROP DATABASE IF EXISTS {name}")
        psql(profile, f"CREATE DATABASE {name} OWNER {DB_USER}")
        psql(profile, f"ALTER DATABASE {name} SET timezone TO 'UTC'")
    env = {
        **os.environ,
        "DB_MAIN": "bench_main",
        "DB_SHARDS": "bench_shard0,bench_shard1",
        "LOGICAL_SHARDS": str(count),
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    try:
        subprocess.run([*manage, "migrate", "--no-input", "-v", "0"], env=env, check=True, cwd=ROOT)
        started = time.perf_counter()
        subprocess.run([*manage, "create_shards"], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
    finally:
        for alias in ("default", *settings.SHARD_DATABASES):
            connections[alias].close()
        for name in names:
            psql(profile, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return {"logical_shards": count, "seconds": seconds, "ms_per_shard": seconds * 1000 / count}


def bench_multiget(repeat: int) -> dict[str, float]:
    # 20 users whose shards spread over the whole map, so over every database.
    step = settings.LOGICAL_SHARDS // 20
    users = [settings.LOGICAL_SHARDS * 1000 + k * step for k in range(20)]
    ids = []
    for user_id in users:
        with shard_for_user(user_id):
            ids.append(Media.objects.create(user_id=user_id, caption="bench").id)
    assert len({user_shard(u) for u in users}) == 20
    aliases = sorted({shard_map().database(user_shard(u)) for u in users})

    def timed(with_cache: bool) -> tuple[float, int]:
        with (
            CaptureQueriesContext(connections[aliases[0]]) as q0,
            CaptureQueriesContext(connections[aliases[-1]]) as q1,
        ):
            started = time.perf_counter()
            found = fetch_many(Media, ids, cache=cache if with_cache else None)
            elapsed = (time.perf_counter() - started) * 1000
        assert len(found) == 20
        queries = len(q0) + (len(q1) if aliases[-1] != aliases[0] else 0)
        return elapsed, queries

    cache.delete_many([object_cache_key(Media, i) for i in ids])
    timed(True)  # warm the cache
    without = [timed(False) for _ in range(repeat)]
    with_cache = [timed(True) for _ in range(repeat)]
    for user_id, media_id in zip(users, ids, strict=True):
        with shard_for_user(user_id):
            Media.objects.filter(id=media_id).delete()
    return {
        "physical_databases": len(aliases),
        "queries_without_cache": without[0][1],
        "ms_without_cache": statistics.median(t for t, _ in without),
        "queries_with_cache": with_cache[0][1],
        "ms_with_cache": statistics.median(t for t, _ in with_cache),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--create-shards", type=int, default=2048)
    parser.add_argument("--out", default=str(ROOT / "var" / "bench" / "sharding.json"))
    options = parser.parse_args()
    report: dict[str, Any] = {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print("bench: IDs", file=sys.stderr, flush=True)
    report["ids"] = bench_ids(options.repeat)
    print("bench: 20 media from 20 shards", file=sys.stderr, flush=True)
    report["multiget"] = bench_multiget(max(options.repeat, 20))
    print(f"bench: creating {options.create_shards} shards", file=sys.stderr, flush=True)
    report["create_shards"] = bench_create_shards(options.create_shards)

    ids, multiget, created = report["ids"], report["multiget"], report["create_shards"]
    print(f"{'IDs/s':<36}{'next_id()':>12}{'nextval()':>12}{'ratio':>8}")
    for kind in ("in_server", "per_statement"):
        print(
            f"{kind.replace('_', ' '):<36}{ids[f'{kind}_next_id_per_s']:>12.0f}"
            f"{ids[f'{kind}_nextval_per_s']:>12.0f}{ids[f'{kind}_ratio']:>8.2f}"
        )
    print(
        f"20 media / 20 shards / {multiget['physical_databases']} databases: "
        f"{multiget['queries_without_cache']} queries {multiget['ms_without_cache']:.2f} ms without "
        f"memcached, {multiget['queries_with_cache']} queries {multiget['ms_with_cache']:.2f} ms with"
    )
    print(
        f"create {created['logical_shards']} shards: {created['seconds']:.1f} s "
        f"({created['ms_per_shard']:.1f} ms a shard)"
    )
    out = Path(options.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"bench: wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
