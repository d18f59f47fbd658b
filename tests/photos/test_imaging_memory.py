"""Memory per upload is bounded: the worst photos we can build stay under MAX_WORKING_BYTES.

Each photo is processed in a fresh interpreter that resets its peak resident
size (/proc/self/clear_refs) just before process_photo and reads it back
(VmHWM) after, so the figure is what processing added, C allocations
(Pillow's pixels) included. The photos are the worst cases for a PNG, which
is decoded whole: the most pixels allowed, in every mode Pillow decodes
PNGs to, as squares and as panoramas (no integer shrink helps those), each a
few hundred kilobytes on the wire.
"""

import io
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageFile

from photos import imaging
from photos.imaging import MAX_WORKING_BYTES, ImageRejected, process_photo
from tests.photos.images import jpeg

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024
# Encoders, the filter's lookup tables and the allocator's slack, on top of the estimated pixels.
OVERHEAD = 48 * MB

# Built in the child, so no pixels cross a pipe: (mode, width, height, format).
WORST = [
    ("RGBA", 6400, 6250, "PNG"),  # 40 MP with alpha: 4 bytes a pixel decoded, composited on white
    ("LA", 6400, 6250, "PNG"),  # gray with alpha is 4 bytes a pixel in Pillow too
    ("RGBA", 10_000, 1223, "PNG"),  # a panorama too thin to shrink by an integer factor
    ("I;16", 6400, 6250, "PNG"),  # 16-bit gray, scaled down to 8 bits
    ("P", 6400, 6250, "PNG"),  # a palette with a transparent index
    ("RGB", 6400, 6250, "PNG"),
    ("CMYK", 10_000, 1300, "JPEG"),  # a wide CMYK JPEG, decoded at half scale
]

CHILD = """
import io, sys
from PIL import Image
from photos.imaging import process_photo
mode, width, height, fmt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
fill = {"RGBA": (30, 90, 160, 100), "LA": (90, 100), "I;16": 40000, "P": 3, "RGB": (30, 90, 160),
        "CMYK": (10, 20, 30, 40)}[mode]
image = Image.new(mode, (width, height), fill)
image.paste(Image.new(mode, (width // 2, height // 2)), (width // 4, height // 4))
buffer = io.BytesIO()
image.save(buffer, fmt, **({"transparency": 3} if mode == "P" else {}))
data = buffer.getvalue()
del image
def status(field):
    return int(next(line for line in open("/proc/self/status") if line.startswith(field)).split()[1]) * 1024
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")  # reset VmHWM to the current resident size
before = status("VmRSS")
process_photo(data, filter_name="x-pro-ii")
print(len(data), status("VmHWM") - before)
"""


def peak_of(mode: str, width: int, height: int, fmt: str) -> tuple[int, int]:
    """Return (bytes uploaded, peak bytes added while processing) for one built photo."""
    result = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(width), str(height), fmt],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    uploaded, peak = result.stdout.split()
    return int(uploaded), int(peak)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc peak reset")
@pytest.mark.parametrize(("mode", "width", "height", "fmt"), WORST, ids=lambda v: str(v))
def test_the_worst_photos_stay_within_the_memory_bound(mode: str, width: int, height: int, fmt: str) -> None:
    uploaded, peak = peak_of(mode, width, height, fmt)
    print(f"{mode} {width}x{height} {fmt}: {uploaded // 1024} KB uploaded, peak {peak / MB:.0f} MB")
    assert uploaded < 2 * MB  # each is a cheap upload...
    assert peak <= MAX_WORKING_BYTES + OVERHEAD  # ...that costs at most the bound to process


def test_a_photo_over_the_bound_is_refused_from_its_header(monkeypatch: pytest.MonkeyPatch) -> None:
    large_jpeg = jpeg(6000, 6000)  # decoded at 1/4 scale: 1500x1500, 9 MB
    buffer = io.BytesIO()
    Image.new("RGBA", (6400, 6250)).save(buffer, "PNG")  # decoded whole: 160 MB, plus its shrunk copy
    monkeypatch.setattr(imaging, "MAX_WORKING_BYTES", 64 * MB)
    assert process_photo(large_jpeg, filter_name="normal").source_width == 6000

    def refuse(self: Image.Image) -> None:
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    with pytest.raises(ImageRejected) as refused:
        process_photo(buffer.getvalue(), filter_name="normal")
    assert str(refused.value) == (
        "the photo is 6400x6250 pixels in mode RGBA: processing it would need 169 MB, at most 64 MB"
    )


def test_at_most_two_photos_are_processed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def slow(data: bytes, *, slug: str) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1

    monkeypatch.setattr(imaging, "_process", slow)
    threads = [
        threading.Thread(target=process_photo, args=(b"",), kwargs={"filter_name": "normal"})
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert most == imaging.CONCURRENT_DECODES == 2


def test_worst_photos_uploaded_at_once_through_nginx_are_all_posted(signup: Any) -> None:
    """Four 40 MP RGBA PNGs at once: each app server processes two at a time and posts them all."""
    kevin = signup("kevin")
    buffer = io.BytesIO()
    Image.new("RGBA", (6400, 6250), (30, 90, 160, 100)).save(buffer, "PNG")
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda _: kevin.upload(buffer.getvalue(), filename="big.png"), range(4)))
    assert [response.status_code for response in responses] == [201] * 4, responses[0].text
    images = [response.json()["data"]["images"]["standard_resolution"] for response in responses]
    assert {(image["width"], image["height"]) for image in images} == {(612, 612)}
    assert kevin.data("users/self")["counts"]["media"] == 4
