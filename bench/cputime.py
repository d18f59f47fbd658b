"""CPU time the stack's own processes spend, by program: what a request costs, whatever else runs.

On a machine shared with other stacks, requests per second move with the
neighbours' load; the CPU seconds this stack's processes use per request do
not (much). Every server of a stack runs under its supervisord
(var/<profile>/run/supervisord.pid), so its process tree is the stack:
`snapshot()` sums user + system time of each process and of its reaped
children (a PostgreSQL backend that exits is counted in the postmaster's),
grouped by program, and `since()` subtracts an earlier snapshot.

    before = cputime.snapshot()
    ...                                   # the benchmark
    spent = cputime.since(before)         # {"app": 12.3, "s3": 4.5, ...} seconds
    ms = cputime.per_request(spent, requests)   # {"app": 2.8, ..., "total": 3.2} ms a request

`ceiling()` turns two such figures into the highest ratio to /ping the
request could reach if its Python cost no more than /ping's: what the
servers spend on it bounds its ratio on a machine whose cores they share.
"""

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")
_TICK = os.sysconf("SC_CLK_TCK")

# First match of the command line wins; anything else counts as "other".
GROUPS = (
    ("app", "gunicorn"),
    ("other", "repmgrd"),  # before postgres: its path names PostgreSQL's
    ("workers", "run_worker"),
    ("s3", "s3server.py"),
    ("postgres", "postgres"),
    ("pgbouncer", "pgbouncer"),
    ("redis", "redis-"),
    ("memcached", "memcached"),
    ("gearmand", "gearmand"),
    ("nginx", "nginx"),
)


def _supervisord_pid() -> int | None:
    profile = os.environ.get("IG_ENVIRONMENT", "dev")
    pid_file = ROOT / "var" / profile / "run" / "supervisord.pid"
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _stat(pid: int) -> tuple[int, int] | None:
    """Return (parent pid, user + system ticks of the process and its reaped children)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    return ppid, utime + stime + cutime + cstime


def _group(pid: int) -> str:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "other"
    return next((name for name, needle in GROUPS if needle in command), "other")


def snapshot() -> dict[str, float]:
    """Return CPU seconds used so far by the stack's processes, by group; {} without a running stack."""
    root = _supervisord_pid()
    if root is None:
        return {}
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents[int(entry.name)], ticks[int(entry.name)] = stat
    totals: dict[str, float] = {}
    for pid, used in ticks.items():
        ancestor = pid
        while ancestor not in (root, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        if ancestor != root or pid == root:
            continue
        group = _group(pid)
        totals[group] = totals.get(group, 0.0) + used / _TICK
    return totals


def since(before: dict[str, float]) -> dict[str, float]:
    """Return the CPU seconds used since `before` (a snapshot()), by group."""
    after = snapshot()
    return {group: round(after[group] - before.get(group, 0.0), 3) for group in sorted(after)}


def wait_until_quiet(*, groups: tuple[str, ...] = ("app", "workers"), timeout_s: float = 60.0) -> float:
    """Wait until `groups` use under 10% of a core over half a second (the requests in flight and
    their background jobs done); return the seconds waited."""
    started = last = time.monotonic()
    previous = snapshot()
    while time.monotonic() - started < timeout_s:
        time.sleep(0.5)
        now, current = time.monotonic(), snapshot()
        busy = sum(current.get(g, 0.0) - previous.get(g, 0.0) for g in groups)
        if busy < 0.1 * (now - last):
            break
        previous, last = current, now
    return time.monotonic() - started


def counted(run: Callable[[], T]) -> tuple[T, dict[str, float]]:
    """Call `run` (a benchmark run) and return its result and the CPU seconds the stack spent on it,
    by group: counted until the app servers and workers are quiet again, so the requests still in
    flight when it returned and the background jobs it caused are its own."""
    before = snapshot()
    result = run()
    wait_until_quiet()
    return result, since(before)


# The stack's own Python: the app servers and the workers. Everything else is a server it calls.
PYTHON = ("app", "workers")


def per_request(spent: dict[str, float], requests: int) -> dict[str, float]:
    """Return CPU ms per request by group, and their "total"; {} when nothing was measured."""
    if not spent or requests <= 0:
        return {}
    ms = {group: seconds * 1000 / requests for group, seconds in spent.items() if seconds > 0}
    ms["total"] = sum(seconds for seconds in spent.values()) * 1000 / requests
    return {group: round(value, 3) for group, value in ms.items()}


def median_per_request(runs: list[dict[str, float]]) -> dict[str, float]:
    """The median of each group's (and the total's) CPU ms per request over several runs."""
    measured = [run for run in runs if run]
    groups = sorted({group for run in measured for group in run})
    return {group: round(statistics.median(run.get(group, 0.0) for run in measured), 3) for group in groups}


def servers_ms(ms: dict[str, float]) -> float:
    """CPU ms a request cost the servers (nginx, PostgreSQL, pgbouncer, Redis, memcached...): not Python."""
    return ms["total"] - sum(ms.get(group, 0.0) for group in PYTHON)


def python_ms(ms: dict[str, float]) -> float:
    """CPU ms a request cost the stack's own Python: the app servers and the workers."""
    return ms["total"] - servers_ms(ms)


def ceiling(
    ping_ms: dict[str, float], request_ms: dict[str, float], *, extra_python_ms: float = 0.0
) -> float | None:
    """The ratio to /ping a request would reach if the app's and workers' Python cost what /ping's does
    (plus `extra_python_ms`: what authenticating a request adds, say).

    Req/s on a machine every process shares is about the cores over the CPU
    a request costs all of them (wrk's share aside), so the request's server
    CPU bounds its ratio: /ping's total over /ping's Python plus the
    request's servers. A ratio target above this needs fewer or cheaper
    round trips, not faster Python. None without both figures.
    """
    if not ping_ms.get("total") or not request_ms.get("total"):
        return None
    python = python_ms(ping_ms) + extra_python_ms
    return round(ping_ms["total"] / (python + servers_ms(request_ms)), 3)
