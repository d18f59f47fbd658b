#!/usr/bin/env python3
"""Benchmarks against the running stack, through nginx, with wrk.

Each figure is reported next to its ratio to the trivial JSON view (`/ping`)
measured in the same run at the same concurrency, so a noisy machine moves
both alike. Every cell is the median of `--repeat` runs.

    make bench                      # dev stack, defaults
    make bench ARGS="--duration 5 --repeat 5"

Results print as a table and are written as JSON to var/bench/results.json.
Later issues add their endpoints to BENCHMARKS.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import cputime
from bench.fixtures import bench_accounts

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "ping"
# name -> path, all served through nginx; {token} and {other_id} come from bench/fixtures.py.
BENCHMARKS = {
    BASELINE: "/ping",
    "health": "/health",
    # Token check (main DB) + rate limit (Redis) + the user object.
    "users_self": "/v1/users/self?access_token={token}",
    # ...plus the profile from memcached and the relationship from the viewer's shard (standby).
    "users_id": "/v1/users/{other_id}?access_token={token}",
}
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class Result:
    name: str
    connections: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    ratio_rps: float = 1.0
    # CPU ms the stack spent per request, by program, and its total (bench/cputime.py; median of the runs).
    cpu_ms: dict[str, float] = field(default_factory=dict)


def parse_wrk(output: str) -> tuple[float, float, float, int]:
    """Return requests/s, p50 and p99 in ms, and the non-2xx count from `wrk --latency` output."""
    found = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if found is None:
        raise RuntimeError(f"wrk printed no Requests/sec:\n{output}")
    rps = float(found.group(1))
    latency = {}
    for pct, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE):
        latency[pct] = float(value) * UNITS[unit]
    errors = 0
    if match := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output):
        errors += int(match.group(1))
    if match := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output):
        errors += sum(int(n) for n in match.groups())
    return rps, latency["50"], latency["99"], errors


def run_wrk(url: str, *, connections: int, duration: int, threads: int) -> tuple[float, float, float, int]:
    # A 10 s timeout, so slow answers count in the latency figures rather than as errors.
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "--latency",
        url,
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return parse_wrk(output)


def run_counted(
    url: str, *, connections: int, duration: int, threads: int
) -> tuple[tuple[float, float, float, int], dict[str, float]]:
    """run_wrk, and the CPU ms per request the stack spent on the run, by program (bench/cputime.py).

    Counted until the app servers and workers are quiet again: the requests
    in flight when wrk stopped, and the jobs the run submitted, are its own.
    """
    result, spent = cputime.counted(
        lambda: run_wrk(url, connections=connections, duration=duration, threads=threads)
    )
    return result, cputime.per_request(spent, round(result[0] * duration))


def measure(base: str, *, name: str, path: str, connections: int, duration: int, repeat: int) -> Result:
    counted = [
        run_counted(f"{base}{path}", connections=connections, duration=duration, threads=2)
        for _ in range(repeat)
    ]
    runs = [r for r, _ in counted]
    return Result(
        name=name,
        connections=connections,
        requests_per_second=round(statistics.median(r[0] for r in runs), 1),
        p50_ms=round(statistics.median(r[1] for r in runs), 2),
        p99_ms=round(statistics.median(r[2] for r in runs), 2),
        errors=sum(r[3] for r in runs),
        cpu_ms=cputime.median_per_request([cpu for _, cpu in counted]),
    )


def table(results: list[Result]) -> str:
    header = f"{'benchmark':<14}{'conns':>6}{'req/s':>10}{'ratio':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
    header += f"{'app ms':>8}{'servers':>8}{'ceiling':>8}"
    lines = [header, "-" * len(header)]
    pings = {r.connections: r for r in results if r.name == BASELINE}
    for r in results:
        cpu = cpu_columns(r.cpu_ms, pings[r.connections].cpu_ms)
        lines.append(
            f"{r.name:<14}{r.connections:>6}{r.requests_per_second:>10.1f}{r.ratio_rps:>8.2f}"
            f"{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}{r.errors:>8}{cpu}"
        )
    return "\n".join(lines)


def cpu_columns(cpu_ms: dict[str, float], ping_ms: dict[str, float]) -> str:
    """A row's app CPU ms, its servers' CPU ms and its ceiling (bench/cputime.py), blank when unmeasured."""
    if not cpu_ms.get("total"):
        return ""
    top = cputime.ceiling(ping_ms, cpu_ms) if cpu_ms is not ping_ms else None
    ceiling = f"{top:>8.2f}" if top else ""
    return f"{cpu_ms.get('app', 0.0):>8.2f}{cputime.servers_ms(cpu_ms):>8.2f}{ceiling}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-url", default=os.environ.get("PUBLIC_BASE_URL", "http://localhost:8000"))
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell; the median is reported")
    parser.add_argument("--connections", default="16,64")
    parser.add_argument(
        "--only", default="", help="comma-separated benchmark names (the baseline always runs)"
    )
    parser.add_argument("--out", default=str(ROOT / "var" / "bench" / "results.json"))
    options = parser.parse_args(argv)

    names = [n for n in BENCHMARKS if not options.only or n == BASELINE or n in options.only.split(",")]
    accounts = bench_accounts()
    values = {"token": accounts.token, "other_id": accounts.other_id}
    results: list[Result] = []
    for connections in (int(c) for c in options.connections.split(",")):
        baseline: Result | None = None
        for name in names:
            print(f"bench: {name} at {connections} connections", file=sys.stderr, flush=True)
            result = measure(
                options.base_url,
                name=name,
                path=BENCHMARKS[name].format(**values),
                connections=connections,
                duration=options.duration,
                repeat=options.repeat,
            )
            if name == BASELINE:
                baseline = result
            assert baseline is not None
            result.ratio_rps = round(result.requests_per_second / baseline.requests_per_second, 3)
            results.append(result)
    print(table(results))
    out = Path(options.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "base_url": options.base_url,
        "baseline": BASELINE,
        "duration_s": options.duration,
        "repeat": options.repeat,
        "results": [asdict(r) for r in results],
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"bench: wrote {out}", file=sys.stderr)
    return 1 if any(r.errors for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
