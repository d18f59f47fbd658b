"""A progress bar for long-running management commands (no dependency)."""

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], *, total: int, label: str, stream: TextIO | None = None) -> Iterator[T]:
    """Yield `items`, drawing `label [####    ] n/total` on a terminal, or a line per 10% otherwise."""
    out = stream or sys.stderr
    tty = out.isatty()
    started = time.monotonic()
    last_decile = -1
    done = 0
    for item in items:
        yield item
        done += 1
        fraction = done / total if total else 1.0
        if tty:
            bar = "#" * int(fraction * 30)
            out.write(f"\r{label} [{bar:<30}] {done}/{total}")
            out.flush()
        elif int(fraction * 10) != last_decile or done == total:
            last_decile = int(fraction * 10)
            out.write(f"{label}: {done}/{total} ({fraction:.0%}) {time.monotonic() - started:.1f}s\n")
    if tty:
        out.write(f"\r{label} [{'#' * 30}] {done}/{total} in {time.monotonic() - started:.1f}s\n")
