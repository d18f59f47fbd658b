#!/usr/bin/env python3
"""Two benchmark result files side by side (before, after): req/s, ratio to /ping, p99.

Takes any two files one benchmark wrote (bench/run.py's results.json,
bench/feeds.py's feeds.json, bench/photos.py's photos.json) or two
summary.json of bench/summary.py, and lines up their cells by name and
connections. Only the ratios compare runs fairly: /ping moves with the
machine's load.

    .venv/bin/python bench/compare.py var/bench/before/results.json var/bench/results.json
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def cells(report: dict[str, Any]) -> dict[tuple[str, int], dict[str, Any]]:
    """(name, connections) -> the cell, whichever benchmark wrote the file."""
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for key in ("results", "reads", "rows"):
        for cell in report.get(key, []):
            name = cell.get("name") or cell.get("figure")
            found[(str(name), int(cell["connections"]))] = cell
    return found


def number(cell: dict[str, Any] | None, *keys: str) -> float | None:
    for key in keys:
        if cell is not None and cell.get(key) is not None:
            return float(cell[key])
    return None


def show(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def side_by_side(before: dict[str, Any], after: dict[str, Any]) -> str:
    old, new = cells(before), cells(after)
    header = (
        f"{'benchmark':<30}{'conns':>6}{'req/s before':>14}{'after':>9}"
        f"{'ratio before':>14}{'after':>7}{'change':>8}{'p99 before':>12}{'after':>8}"
    )
    lines = [
        f"before: {before.get('measured_at') or before.get('made_at')}   "
        f"after: {after.get('measured_at') or after.get('made_at')}",
        header,
        "-" * len(header),
    ]
    for key in sorted(old.keys() | new.keys(), key=lambda k: (k[1], k[0])):
        a, b = old.get(key), new.get(key)
        ratio_a, ratio_b = number(a, "ratio_rps", "ratio"), number(b, "ratio_rps", "ratio")
        change = f"{ratio_b / ratio_a:.2f}x" if ratio_a and ratio_b else ""
        rps_a, rps_b = number(a, "requests_per_second", "req_s"), number(b, "requests_per_second", "req_s")
        lines.append(
            f"{key[0]:<30}{key[1]:>6}{show(rps_a, 1):>14}{show(rps_b, 1):>9}"
            f"{show(ratio_a, 3):>14}{show(ratio_b, 3):>7}"
            f"{change:>8}{show(number(a, 'p99_ms'), 1):>12}{show(number(b, 'p99_ms'), 1):>8}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    options = parser.parse_args(argv)
    print(side_by_side(json.loads(options.before.read_text()), json.loads(options.after.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
