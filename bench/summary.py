#!/usr/bin/env python3
"""One table of issue 16's figures and targets, from the JSON the benchmarks wrote (`make bench`).

Reads var/bench/results.json (bench/run.py), feeds.json (bench/feeds.py)
and photos.json (bench/photos.py), whichever exist; prints each figure next
to its target and whether this run meets it; writes var/bench/summary.json
and var/bench/requests-per-connection.png (req/s against connections for
/ping, /v1/users/self and the warm feed, from feeds.json: run bench/feeds.py
with --connections 1,4,16,64 for a fuller curve).

    .venv/bin/python bench/summary.py
    .venv/bin/python bench/summary.py --dir var/bench/after
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import cputime  # noqa: E402

# (file, result name, what, target: (kind, bound)); kind "ratio" is req/s over /ping's; "cpu" is
# the CPU ms the stack spent per request (bench/cputime.py): 40 uploads/s on 2 cores leave 50 ms.
TARGETS: list[tuple[str, str, str, tuple[str, float] | None]] = [
    ("results", "users_self", "users/self", ("ratio", 0.6)),
    ("results", "users_id", "users/{id}", None),
    ("feeds", "feed warm", "feed, warm", ("ratio", 0.5)),
    ("feeds", "feed warm", "feed, warm: p99 / ping's p99", ("p99", 10.0)),
    ("feeds", "feed cold-first", "feed, cold-first", ("ratio", 0.3)),
    ("feeds", "feed cold-every", "feed, cold every request", None),
    ("photos", "get media", "media/{id}", ("ratio", 0.4)),
    ("photos", "popular", "media/popular", ("ratio", 0.4)),
    ("photos", "tag", "tags/{name}/media/recent", ("ratio", 0.4)),
    ("photos", "location", "locations/{id}/media/recent", ("ratio", 0.4)),
    ("photos", "like", "like", ("ratio", 0.3)),
    ("photos", "unlike", "unlike", ("ratio", 0.3)),
    ("photos", "comment", "comment", ("ratio", 0.3)),
    ("photos", "upload normal", "upload 1080x1080 (req/s)", ("rps", 40.0)),
    ("photos", "upload normal", "upload 1080x1080: stack CPU ms", ("cpu", 2 * 1000 / 40)),
    ("photos", "upload 612", "upload 612x612 (req/s)", None),
    ("photos", "upload 612", "upload 612x612: stack CPU ms", None),
]


def cells(report: dict[str, Any]) -> list[dict[str, Any]]:
    for key in ("results", "reads"):
        if key in report:
            return list(report[key])
    return []


def ping_p99(report: dict[str, Any], connections: int) -> float | None:
    for cell in cells(report):
        if cell["name"] == "ping" and cell["connections"] == connections:
            return float(cell["p99_ms"])
    return None


def ping_cpu(report: dict[str, Any], connections: int) -> dict[str, float]:
    """/ping's CPU ms per request, by program, in the same run at `connections` ({} if unmeasured)."""
    for cell in cells(report):
        if cell["name"] == "ping" and cell["connections"] == connections:
            return dict(cell.get("cpu_ms", {}))
    runs = report.get("ping", {}).get(str(connections), [])  # photos.json keeps /ping's runs apart
    return cputime.median_per_request(
        [cputime.per_request(r.get("cpu_s", {}), r.get("sent") or r.get("completed", 0)) for r in runs]
    )


def ceiling(report: dict[str, Any], cell: dict[str, Any], extra_python_ms: float = 0.0) -> float | None:
    """The cell's ratio to /ping if its Python cost what /ping's does (bench/cputime.py), plus
    `extra_python_ms`; None if unmeasured."""
    ping = ping_cpu(report, cell["connections"])
    return cputime.ceiling(ping, cell.get("cpu_ms", {}), extra_python_ms=extra_python_ms)


def authentication_ms(reports: dict[str, dict[str, Any]]) -> float | None:
    """The Python CPU ms users/self costs beyond /ping's in the same run (the median over the
    connection counts measured): what any authenticated request pays before its own work (token,
    rate limit, user). None if unmeasured."""
    extra = []
    for source, name in (("results", "users_self"), ("feeds", "users self")):
        for cell in cells(reports.get(source, {})):
            ping = ping_cpu(reports[source], cell["connections"])
            if cell["name"] == name and cell.get("cpu_ms") and ping:
                extra.append(max(0.0, cputime.python_ms(cell["cpu_ms"]) - cputime.python_ms(ping)))
    return round(statistics.median(extra), 3) if extra else None


def rows(reports: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for source, name, what, target in TARGETS:
        report = reports.get(source)
        if report is None:
            continue
        for cell in cells(report):
            if cell["name"] != name:
                continue
            if what.endswith("CPU ms"):
                cpu = cell.get("cpu_ms", {}).get("total")
                if cpu is None:
                    continue
                found.append(cpu_row(what, cell["connections"], cpu, target))
                continue
            rps, ratio = float(cell["requests_per_second"]), cell.get("ratio_rps")
            row: dict[str, Any] = {
                "figure": what,
                "connections": cell["connections"],
                "req_s": rps,
                "ratio": ratio,
                "p99_ms": cell.get("p99_ms"),
                "target": None,
                "met": None,
                "ceiling": None,
                "ceiling_authenticated": None,
            }
            if target is not None and target[0] == "ratio":
                row["ceiling"] = ceiling(report, cell)
                if what != "users/self" and (auth := authentication_ms(reports)) is not None:
                    row["ceiling_authenticated"] = ceiling(report, cell, auth)
            if target is not None:
                kind, bound = target
                if kind == "ratio" and ratio is not None:
                    row["target"], row["met"] = f">= {bound}x /ping", ratio >= bound
                elif kind == "rps":
                    row["target"], row["met"] = f">= {bound:g} req/s", rps >= bound
                elif kind == "p99":
                    base = ping_p99(report, cell["connections"])
                    if base:
                        row["value"] = round(float(cell["p99_ms"]) / base, 2)
                        row["target"], row["met"] = f"< {bound:g}x ping's p99", row["value"] < bound
            found.append(row)
    return found


def cpu_row(what: str, connections: int, cpu: float, target: tuple[str, float] | None) -> dict[str, Any]:
    """A row whose figure is the CPU ms per request, in the ratio column's place."""
    row: dict[str, Any] = {
        "figure": what,
        "connections": connections,
        "req_s": None,
        "ratio": None,
        "value": cpu,
        "p99_ms": None,
        "target": None,
        "met": None,
    }
    if target is not None:
        row["target"], row["met"] = f"<= {target[1]:g} ms", cpu <= target[1]
    return row


def table(found: list[dict[str, Any]]) -> str:
    header = f"{'figure':<32}{'conns':>6}{'req/s':>9}{'ratio':>7}{'p99 ms':>9}  {'target':<22}{'met':<4}"
    header += f"{'ceiling':>8}{'+auth':>7}"
    lines = [header, "-" * len(header)]
    for r in found:
        ratio = f"{r['value']:.2f}" if "value" in r else ("" if r["ratio"] is None else f"{r['ratio']:.2f}")
        req_s = "" if r["req_s"] is None else f"{r['req_s']:.1f}"
        met = "" if r["met"] is None else ("yes" if r["met"] else "NO")
        p99 = "" if r["p99_ms"] is None else f"{r['p99_ms']:.1f}"
        top = "" if r.get("ceiling") is None else f"{r['ceiling']:.2f}"
        auth = "" if r.get("ceiling_authenticated") is None else f"{r['ceiling_authenticated']:.2f}"
        lines.append(
            f"{r['figure']:<32}{r['connections']:>6}{req_s:>9}{ratio:>7}{p99:>9}  "
            f"{r['target'] or '':<22}{met:<4}{top:>8}{auth:>7}"
        )
    lines.append(
        "ceiling: the ratio the request would reach if its Python (app and workers) cost what /ping's "
        "does;\n  the CPU its servers spend bounds it (bench/cputime.py). +auth: the same with the Python "
        "users/self\n  adds to /ping's (token, rate limit, user), which every authenticated request pays. "
        "A target above\n  these needs fewer or cheaper round trips to the servers, or a machine where "
        "they do not share the\n  app's cores."
    )
    return "\n".join(lines)


def plot(feeds: dict[str, Any], out: Path) -> bool:
    """req/s against connections for /ping, users/self and the warm feed; False without the figures."""
    import matplotlib

    matplotlib.use("Agg")  # no display: write a file
    import matplotlib.pyplot as plt

    series: dict[str, list[tuple[int, float]]] = {}
    for cell in cells(feeds):
        if cell["name"] in ("ping", "users self", "feed warm"):
            series.setdefault(cell["name"], []).append((cell["connections"], cell["requests_per_second"]))
    if not series:
        return False
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for name, points in series.items():
        points.sort()
        axes.plot([c for c, _ in points], [r for _, r in points], marker="o", label=name)
    axes.set_xscale("log", base=2)
    ticks = sorted({c for points in series.values() for c, _ in points})
    axes.set_xticks(ticks, [str(c) for c in ticks])
    axes.set_xlabel("connections (wrk)")
    axes.set_ylabel("requests/s (median)")
    axes.set_title(f"Through nginx, {feeds.get('measured_at', '')}")
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dir", default=str(ROOT / "var" / "bench"), help="where the benchmarks wrote")
    options = parser.parse_args(argv)
    folder = Path(options.dir)
    reports = {
        name: json.loads((folder / f"{name}.json").read_text())
        for name in ("results", "feeds", "photos")
        if (folder / f"{name}.json").exists()
    }
    found = rows(reports)
    print(table(found))
    summary = {
        "made_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "sources": {name: report.get("measured_at") for name, report in reports.items()},
        "rows": found,
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if "feeds" in reports and plot(reports["feeds"], folder / "requests-per-connection.png"):
        print(f"bench: wrote {folder / 'requests-per-connection.png'}", file=sys.stderr)
    print(f"bench: wrote {folder / 'summary.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
