#!/usr/bin/env python3
"""Photo endpoint benchmarks against the running dev stack, through nginx, with wrk (`make bench`).

- uploads/s end to end: POST /v1/media/upload, multipart/form-data with a
  1080x1080 photo-like JPEG (about 420 KB), a caption with a hashtag, filter
  normal, and again with x-pro-ii (the heaviest look), at 8 and 32
  connections; and "upload 612": the photo as Instagram's 2011 app sent it,
  already resized on the phone to 612x612 (about 140 KB, the same
  generator and quality 90), filter normal. Each request comes from another of --uploaders accounts, as
  one user's uploads run one at a time by design (a row lock). Every answer
  must be 201. The uploads are deleted after each run (as a user deletes
  media: rows, S3 objects, CDN copies, indexes), so the in-memory dev S3
  does not grow.
- likes/s: POST /v1/media/{id}/likes at 8 and 32 connections, every request
  a new like (a (user, media) pair not liked before: 50 media of 10 owners
  x --likers accounts, walked so no pair repeats); the likes are cleared
  before each run. Unlikes likewise: DELETE, each removing a like that
  exists (every pair is liked in bulk before each run).
- comments/s: POST /v1/media/{id}/comments (text=...) at 8 and 32
  connections over the same (user, media) pairs as likes; the comments
  are cleared before each run.
- get media: GET /v1/media/{id} at 16 and 64 connections, a media with
  likes and comments, memcached warm.
- popular, tag, location: GET /v1/media/popular, /v1/tags/benchmark/media/recent
  and /v1/locations/{id}/media/recent at 16 and 64 connections, each a full
  page of 20 liked and commented media, memcached warm.

bench/lua/ has the wrk scripts. Every figure is next to its ratio to `/ping`
measured in the same run at the same connection count (a noisy machine
moves both alike), each the median of --repeat runs, with p50/p99 latency.
Uploads run --upload-duration (default 15 s, 3x the others): wrk counts
the requests that completed, so the ones in flight when it stops (one per
connection) go uncounted, about p50 / (2 x duration) of the figure: at 32
connections an upload takes 2-3 s, a quarter of a 5 s run.
Every run also reports the CPU time the stack's own processes spent per
request, by program (bench/cputime.py: app servers, workers, S3,
PostgreSQL, nginx...), counted until the requests still in flight when wrk
stopped and the run's background jobs are done (the stack quiet): unlike
req/s, it hardly moves with the load of other stacks on the machine.
2 cores / an upload's figure bounds the uploads/s this box could reach,
and each request's "ceiling" is the ratio to /ping it would reach if its
Python cost what /ping's does: the servers' share alone bounds it.
Results go to var/bench/photos.json. A run with any failed request (or a
repeated like) is invalid: the script says so and exits 1.

    make bench
    .venv/bin/python bench/photos.py --quick          # 2 s single runs
    .venv/bin/python bench/photos.py --only like,get --duration 10
"""

import argparse
import json
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import cputime  # noqa: E402
from bench.fixtures import (  # noqa: E402
    BENCH_TAG,
    PhotoFixtures,
    clear_comments,
    clear_likes,
    delete_media_of,
    fill_likes,
    photo_fixtures,
    photo_jpeg,
    setup_django,
)
from bench.run import parse_wrk  # noqa: E402

LUA = ROOT / "bench" / "lua"
THREADS = 2  # wrk threads, as bench/run.py
CAPTION = "Golden hour over the bay #sunset"
HEAVY_FILTER = "x-pro-ii"
SETTLE_S = 1.0  # after each run: let its last requests and background jobs finish
LUA_LINE = re.compile(r"^lua: sent=(\d+) bad=(\d+) exhausted=(\d+) status=(\d+) body=(.*)$", re.MULTILINE)
PHOTO = photo_jpeg(side=1080, seed=7, quality=90)
PHONE_PHOTO = photo_jpeg(side=612, seed=7, quality=90)  # resized on the phone, as the 2011 app sent it


@dataclass
class Run:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx and socket errors (wrk's summary) plus answers not the expected status (Lua)
    completed: int = 0
    sent: int = 0  # requests the Lua script sent (0: no script)
    elapsed_s: float = 0.0
    repeated: int = 0  # likes: requests after the distinct pairs ran out
    last_error: str = ""
    cpu_s: dict[str, float] = field(default_factory=dict)  # the stack's CPU seconds, by program


@dataclass
class Cell:
    name: str
    connections: int
    duration_s: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    repeated: int
    ratio_rps: float
    runs: list[Run] = field(default_factory=list)
    cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU ms per request, by program (median)


@dataclass
class Bench:
    """One benchmark: its wrk arguments, and what to do around each run."""

    name: str
    connections: tuple[int, ...]
    wrk_args: Callable[[str], list[str]]  # base URL -> URL and script arguments
    slow: bool = False  # runs --upload-duration
    before: Callable[[], None] = lambda: None
    after: Callable[[], None] = lambda: None


def run_wrk(args: list[str], *, connections: int, duration: int) -> Run:
    command = [
        "wrk",
        f"-t{THREADS}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "--latency",
        *args,
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    rps, p50, p99, errors = parse_wrk(output)
    summary = re.search(r"^\s*(\d+) requests in ([\d.]+)(ms|s|m)\b", output, re.MULTILINE)
    if summary is None:
        raise RuntimeError(f"wrk printed no summary: {output}")
    completed = int(summary.group(1))
    elapsed_s = float(summary.group(2)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[summary.group(3)]
    run = Run(
        requests_per_second=rps,
        p50_ms=p50,
        p99_ms=p99,
        errors=errors,
        completed=completed,
        elapsed_s=elapsed_s,
    )
    lua = LUA_LINE.search(output)
    if lua is not None:
        sent, bad, exhausted, status = (int(n) for n in lua.groups()[:4])
        # A wrong status is counted by wrk too when it is not 2xx/3xx; count each failed request once.
        non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
        run.errors += bad - (int(non_2xx.group(1)) if non_2xx else 0)
        run.sent, run.repeated = sent, exhausted
        if bad:
            run.last_error = f"HTTP {status}: {lua.group(5)}"
    return run


def cell(name: str, connections: int, duration: int, runs: list[Run], baseline: list[Run]) -> Cell:
    rps = statistics.median(r.requests_per_second for r in runs)
    ping = statistics.median(r.requests_per_second for r in baseline)
    # A Lua script counts what it sent (the requests in flight at the end included); wrk, what completed.
    cpu_ms = cputime.median_per_request([cputime.per_request(r.cpu_s, r.sent or r.completed) for r in runs])
    return Cell(
        name=name,
        connections=connections,
        duration_s=duration,
        requests_per_second=round(rps, 1),
        p50_ms=round(statistics.median(r.p50_ms for r in runs), 2),
        p99_ms=round(statistics.median(r.p99_ms for r in runs), 2),
        errors=sum(r.errors for r in runs),
        repeated=sum(r.repeated for r in runs),
        ratio_rps=round(rps / ping, 4),
        runs=runs,
        cpu_ms=cpu_ms,
    )


def benchmarks(fixtures: PhotoFixtures, files: Path, names: set[str]) -> list[Bench]:
    photo, phone_photo = files / "photo.jpg", files / "phone-photo.jpg"
    photo.write_bytes(PHOTO)
    phone_photo.write_bytes(PHONE_PHOTO)
    uploaders, likers, media = files / "uploaders.txt", files / "likers.txt", files / "media.txt"
    uploaders.write_text("".join(f"{token}\n" for _, token in fixtures.uploaders))
    likers.write_text("".join(f"{token}\n" for _, token in fixtures.likers))
    media.write_text("".join(f"{media_id}\n" for media_id in fixtures.like_media))
    uploader_ids = [user_id for user_id, _ in fixtures.uploaders]
    liker_ids = [user_id for user_id, _ in fixtures.likers]

    def delete_uploads() -> None:
        delete_media_of(uploader_ids)

    def upload(filter_name: str, source: Path = photo) -> Callable[[str], list[str]]:
        script = ["-s", str(LUA / "upload.lua")]
        args = [str(source), str(uploaders), str(THREADS), filter_name, CAPTION, "201"]
        return lambda base: [*script, f"{base}/v1/media/upload", "--", *args]

    def likes(method: str, what: str = "likes") -> Callable[[str], list[str]]:
        args = [method, str(likers), str(media), str(THREADS), "200", what]
        return lambda base: ["-s", str(LUA / "likes.lua"), f"{base}/", "--", *args]

    def page(path: str) -> Callable[[str], list[str]]:
        return lambda base: [f"{base}{path}"]

    read_path = f"/v1/media/{fixtures.read_media}?access_token={fixtures.reader_token}"
    token = f"access_token={fixtures.reader_token}"
    all_benchmarks = [
        Bench("upload normal", (8, 32), upload("normal"), slow=True, after=delete_uploads),
        Bench(f"upload {HEAVY_FILTER}", (8, 32), upload(HEAVY_FILTER), slow=True, after=delete_uploads),
        Bench("upload 612", (8, 32), upload("normal", phone_photo), slow=True, after=delete_uploads),
        Bench("like", (8, 32), likes("POST"), before=lambda: clear_likes(fixtures.like_media, liker_ids)),
        Bench("unlike", (8, 32), likes("DELETE"), before=lambda: fill_likes(fixtures.like_media, liker_ids)),
        Bench(
            "comment", (8, 32), likes("POST", "comments"), before=lambda: clear_comments(fixtures.like_media)
        ),
        Bench("get media", (16, 64), page(read_path)),
        Bench("popular", (16, 64), page(f"/v1/media/popular?{token}")),
        Bench("tag", (16, 64), page(f"/v1/tags/{BENCH_TAG}/media/recent?{token}")),
        Bench("location", (16, 64), page(f"/v1/locations/{fixtures.location_id}/media/recent?{token}")),
    ]
    return [b for b in all_benchmarks if not names or b.name.split()[0] in names]


def warm(base: str, path: str) -> None:
    with urllib.request.urlopen(f"{base}{path}", timeout=10) as answer:  # noqa: S310 (our own stack)
        answer.read()


def table(cells: list[Cell], pings: dict[int, list[Run]], duration: int) -> str:
    header = (
        f"{'benchmark':<18}{'conns':>6}{'secs':>6}{'req/s':>9}{'ratio':>9}{'p50 ms':>10}{'p99 ms':>10}"
        f"{'errors':>8}"
    )
    lines = [header, "-" * len(header)]
    for connections, runs in sorted(pings.items()):
        ping = cell("ping", connections, duration, runs, runs)
        rows = [ping, *(c for c in cells if c.connections == connections)]
        for c in rows:
            errors = f"{c.errors}" + (f"+{c.repeated}r" if c.repeated else "")
            lines.append(
                f"{c.name:<18}{c.connections:>6}{c.duration_s:>6}{c.requests_per_second:>9.1f}"
                f"{c.ratio_rps:>9.4f}{c.p50_ms:>10.2f}{c.p99_ms:>10.2f}{errors:>8}"
            )
    return "\n".join(lines)


def cpu_table(cells: list[Cell], pings: dict[int, list[Run]], duration: int) -> str:
    """CPU ms the stack spent per request, by program (the figure the neighbours' load moves least),
    and each request's ceiling: its ratio to /ping if its Python cost what /ping's does."""
    baselines = {c: cell("ping", c, duration, runs, runs) for c, runs in pings.items()}
    measured = [c for c in [*baselines.values(), *cells] if c.cpu_ms]
    if not measured:
        return ""
    named = dict.fromkeys(g for g, _ in cputime.GROUPS if g != "other")
    groups = [g for g in named if any(g in c.cpu_ms for c in measured)] + ["other", "total"]
    header = (
        f"{'CPU ms/request':<18}{'conns':>6}" + "".join(f"{g[:9]:>10}" for g in groups) + f"{'ceiling':>9}"
    )
    lines = [header, "-" * len(header)]
    for c in sorted(measured, key=lambda c: c.connections):
        values = "".join(f"{c.cpu_ms.get(g, 0.0):>10.2f}" for g in groups)
        ping = baselines.get(c.connections)
        top = cputime.ceiling(ping.cpu_ms, c.cpu_ms) if ping is not None and c.name != "ping" else None
        lines.append(f"{c.name:<18}{c.connections:>6}{values}" + (f"{top:>9.2f}" if top else ""))
    return "\n".join(lines)


def context(cells: list[Cell]) -> str:
    best: dict[str, float] = {}
    for c in cells:
        if c.name == "upload 612":
            continue  # the best of the 1080x1080 uploads: the figure issue 16 targets
        kind = c.name.split()[0]
        best[kind] = max(best.get(kind, 0.0), c.requests_per_second)
    lines = [
        "Instagram, 2011: 25 photos and 90 likes a second across 25+ app servers "
        "(about 1 photo and 3.6 likes a second per server).",
        f"Here: 2 gunicorn app servers on one {os.cpu_count()}-CPU machine that also runs nginx, "
        "Postgres, pgbouncer, Redis, memcached, gearman, the workers, S3 and wrk.",
    ]
    if "upload" in best:
        lines.append(
            f"  best uploads/s: {best['upload']:.1f} ({best['upload'] / 25:.2f}x Instagram's 2011 total)"
        )
    if "like" in best:
        lines.append(f"  best likes/s: {best['like']:.1f} ({best['like'] / 90:.2f}x Instagram's 2011 total)")
    return "\n".join(lines)


def measured(args: list[str], *, connections: int, duration: int) -> Run:
    """Run wrk and count the CPU the stack spent on it, the requests in flight when wrk stopped and
    the background jobs of the run (a like's news, an upload's renditions) included."""

    def run_and_settle() -> Run:
        finished = run_wrk(args, connections=connections, duration=duration)
        time.sleep(SETTLE_S)  # the run's last jobs are under way before the stack is watched for quiet
        return finished

    run, spent = cputime.counted(run_and_settle)
    run.cpu_s = spent
    return run


def measure_all(
    todo: list[Bench], *, base: str, options: argparse.Namespace
) -> tuple[list[Cell], dict[int, list[Run]]]:
    """Run every benchmark at each of its connection counts, --repeat times, with /ping before each round."""
    cells: list[Cell] = []
    pings: dict[int, list[Run]] = {}
    for connections in sorted({c for b in todo for c in b.connections}):
        here = [b for b in todo if connections in b.connections]
        runs: dict[str, list[Run]] = {b.name: [] for b in here}
        pings[connections] = []
        for attempt in range(options.repeat):
            # The baseline runs between the benchmarks, in every round, at this connection count.
            print(f"bench: ping at {connections} connections", file=sys.stderr, flush=True)
            pings[connections].append(
                measured([f"{base}/ping"], connections=connections, duration=options.duration)
            )
            for b in here:
                step = f"{b.name} at {connections} connections ({attempt + 1}/{options.repeat})"
                print(f"bench: {step}", file=sys.stderr, flush=True)
                b.before()
                duration = options.upload_duration if b.slow else options.duration
                run = measured(b.wrk_args(base), connections=connections, duration=duration)
                b.after()
                if run.errors or run.repeated:
                    message = f"{run.errors} failed, {run.repeated} repeated; {run.last_error}"
                    print(f"bench: {step}: {message}", file=sys.stderr)
                runs[b.name].append(run)
        for b in here:
            duration = options.upload_duration if b.slow else options.duration
            cells.append(cell(b.name, connections, duration, runs[b.name], pings[connections]))
    return cells, pings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-url", default=os.environ.get("PUBLIC_BASE_URL", "http://localhost:8000"))
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--upload-duration", type=int, default=15, help="seconds per upload run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell; the median is reported")
    parser.add_argument("--quick", action="store_true", help="2 s single runs, uploads too")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated: upload, like, unlike, comment, get, popular, tag, location",
    )
    parser.add_argument("--uploaders", type=int, default=100, help="accounts the uploads rotate over")
    parser.add_argument("--likers", type=int, default=400, help="accounts that like (x 50 media: the pairs)")
    parser.add_argument("--out", default=str(ROOT / "var" / "bench" / "photos.json"))
    options = parser.parse_args(argv)
    if options.quick:
        options.duration, options.upload_duration, options.repeat = 2, 2, 1

    print("bench: photo fixtures", file=sys.stderr, flush=True)
    setup_django()
    logging.getLogger("workers").setLevel(logging.WARNING)  # not a line per job the fixtures submit
    fixtures = photo_fixtures(uploaders=options.uploaders, likers=options.likers)
    uploader_ids = [user_id for user_id, _ in fixtures.uploaders]
    leftovers = delete_media_of(uploader_ids)  # an interrupted run's uploads
    if leftovers:
        print(f"bench: deleted {leftovers} uploads an earlier run left", file=sys.stderr)
    base = options.base_url.rstrip("/")
    token = f"access_token={fixtures.reader_token}"
    for path in (
        f"/v1/media/{fixtures.read_media}?{token}",
        f"/v1/media/popular?{token}",
        f"/v1/tags/{BENCH_TAG}/media/recent?{token}",
        f"/v1/locations/{fixtures.location_id}/media/recent?{token}",
    ):
        warm(base, path)

    names = {n.strip() for n in options.only.split(",") if n.strip()}
    with tempfile.TemporaryDirectory(prefix="bench-photos-") as tmp:
        try:
            cells, pings = measure_all(benchmarks(fixtures, Path(tmp), names), base=base, options=options)
        finally:
            clear_likes(fixtures.like_media, [user_id for user_id, _ in fixtures.likers])
            clear_comments(fixtures.like_media)
            delete_media_of(uploader_ids)

    print(table(cells, pings, options.duration))
    if cpu := cpu_table(cells, pings, options.duration):
        print(cpu)
    print(context(cells))
    for c in cells:
        if c.p50_ms > c.duration_s * 1000 / 10:
            print(
                f"note: {c.name} at {c.connections}: p50 {c.p50_ms / 1000:.1f} s in {c.duration_s} s runs: "
                f"req/s ~{c.p50_ms / 20 / c.duration_s:.0f}% low (the requests in flight at the end)"
            )
    invalid = [c for c in cells if c.errors or c.repeated]
    for c in invalid:
        print(f"INVALID: {c.name} at {c.connections}: {c.errors} failed, {c.repeated} repeated likes")
    out = Path(options.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "base_url": base,
        "baseline": "ping",
        "duration_s": options.duration,
        "upload_duration_s": options.upload_duration,
        "repeat": options.repeat,
        "photo_bytes": len(PHOTO),
        "phone_photo_bytes": len(PHONE_PHOTO),
        "ping": {str(c): [asdict(r) for r in runs] for c, runs in pings.items()},
        "results": [asdict(c) for c in cells],
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"bench: wrote {out}", file=sys.stderr)
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main())
