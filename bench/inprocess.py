#!/usr/bin/env python3
"""CPU milliseconds one request costs the app's own Python, measured in this process.

The request goes through Django's whole middleware stack and the real
servers (memcached, Redis, pgbouncer) with Django's test client, one at a
time, so the figure is the process's CPU time per request (time.process_time),
which a loaded machine moves far less than requests per second. No nginx,
no gunicorn: add about what `/ping` costs under them for the whole path.

    set -a && . var/test-e/env && set +a
    .venv/bin/python bench/inprocess.py                       # /ping and users/self
    .venv/bin/python bench/inprocess.py --path '/v1/users/self/feed?access_token={token}' \\
        --token <a reader's token>
    .venv/bin/python bench/inprocess.py --profile 40          # and cProfile's 40 costliest (CPU time)

Each path runs --rounds rounds of --requests requests, alternating with
/ping; the minimum and the median of the rounds are printed.
"""

import argparse
import cProfile
import logging
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fixtures import bench_accounts, setup_django  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--path", default="/v1/users/self?access_token={token}")
    parser.add_argument("--token", default="", help="default: the bench reader's (bench/fixtures.py)")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", type=int, default=0, help="print this many functions of a cProfile run")
    parser.add_argument(
        "--sort",
        default="cumulative",
        help="the profile's order: cumulative, tottime (a function's own time)...",
    )
    options = parser.parse_args(argv)

    setup_django()
    from django.test import Client

    logging.getLogger("instagram.request").setLevel(logging.WARNING)  # not a line per request

    token = options.token or bench_accounts().token
    paths = {"/ping": "/ping", "path": options.path.format(token=token)}
    client = Client(HTTP_HOST="localhost")
    for path in paths.values():  # warm: connections, caches, the token's copy
        for _ in range(20):
            status = client.get(path).status_code
        if status != 200:
            raise SystemExit(f"{path.split('?')[0]} answered {status}")
    spent: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(options.rounds):
        for name, path in paths.items():
            started = time.process_time()
            for _ in range(options.requests):
                client.get(path)
            spent[name].append(1000 * (time.process_time() - started) / options.requests)
    shown = options.path.split("?")[0]
    for name, values in spent.items():
        label = shown if name == "path" else name
        print(f"{label:40} CPU ms/request: min {min(values):.3f}  median {statistics.median(values):.3f}")
    if options.profile:
        profile = cProfile.Profile(time.process_time)
        profile.enable()
        for _ in range(options.requests):
            client.get(paths["path"])
        profile.disable()
        pstats.Stats(profile).sort_stats(options.sort).print_stats(options.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
