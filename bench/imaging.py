#!/usr/bin/env python3
"""CPU ms of the upload pipeline's imaging (photos.imaging.process_photo), in this process, no stack.

The photos are bench/photos.py's: the 1080x1080 JPEG (quality 90) with
filter normal and x-pro-ii, and the 612x612 one a 2011 phone sent. Each
figure is the median of --repeat calls, in CPU time of this process
(`time.process_time`), so other processes on the machine move it little.
`--steps` adds what the pipeline's steps cost on the 1080 photo, apart.

    .venv/bin/python bench/imaging.py
    .venv/bin/python bench/imaging.py --steps --repeat 30
"""

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from bench.fixtures import photo_jpeg  # noqa: E402
from photos import imaging  # noqa: E402


def cpu_ms(call: Callable[[], object], *, repeat: int) -> float:
    spent = []
    for _ in range(repeat):
        started = time.process_time()
        call()
        spent.append((time.process_time() - started) * 1000)
    return round(statistics.median(spent), 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--steps", action="store_true", help="also each step on the 1080 photo")
    options = parser.parse_args(argv)
    photo, phone = photo_jpeg(side=1080, seed=7, quality=90), photo_jpeg(side=612, seed=7, quality=90)
    cases = [("1080x1080", photo, "normal"), ("1080x1080", photo, "x-pro-ii"), ("612x612", phone, "normal")]
    print(f"{'process_photo':<34}{'CPU ms':>8}")
    for label, data, filter_name in cases:
        call = partial(imaging.process_photo, data, filter_name=filter_name)
        figure = cpu_ms(call, repeat=options.repeat)
        print(f"{label + ', ' + filter_name:<34}{figure:>8.1f}")
    if options.steps:
        image = Image.open(BytesIO(photo)).convert("RGB")
        square = image.resize((612, 612), Image.Resampling.LANCZOS)
        half = square.resize((306, 306), Image.Resampling.LANCZOS)
        steps: list[tuple[str, Callable[[], object]]] = [
            ("decode 1080", lambda: Image.open(BytesIO(photo)).load()),
            ("resize 1080 -> 612 (LANCZOS)", lambda: image.resize((612, 612), Image.Resampling.LANCZOS)),
            ("resize 612 -> 306 (LANCZOS)", lambda: square.resize((306, 306), Image.Resampling.LANCZOS)),
            ("resize 612 -> 306 (reduce 2)", lambda: square.reduce(2)),
            ("resize 306 -> 150 (LANCZOS)", lambda: half.resize((150, 150), Image.Resampling.LANCZOS)),
            ("encode original 1080, q90", lambda: imaging._encode("original", image)),
            ("encode 612, q85 progressive", lambda: imaging._encode("standard_resolution", square)),
            ("encode 306, q85", lambda: imaging._encode("low_resolution", half)),
            ("strip the upload's metadata", lambda: imaging._strip_jpeg(photo)),
        ]
        print(f"\n{'step (1080 photo)':<34}{'CPU ms':>8}")
        for label, step in steps:
            print(f"{label:<34}{cpu_ms(step, repeat=options.repeat):>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
