"""Headless Chromium for acceptance tests: Debian's browser and driver, screenshots, OCR.

Tests photograph pages and read them back with tesseract, so they check
what a person would see, not only the DOM.
"""

import os
import struct
import subprocess
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WINDOW = (1000, 900)  # CSS pixels
SCALE = 2  # device pixels per CSS pixel: sharper text for OCR
# Dictionary words: OCR reads them reliably (random letters it did not: X came out as K).
WORDS = [
    "Amber",
    "Canyon",
    "Copper",
    "Falcon",
    "Harbor",
    "Lantern",
    "Marble",
    "Meadow",
    "Orchard",
    "Summit",
    "Velvet",
    "Willow",
]


@contextmanager
def chromium(*, profile: Path, window: tuple[int, int] = WINDOW) -> Iterator[WebDriver]:
    """Start headless Chromium with a fresh profile in `profile`; quit it when the block ends.

    `window` is the window's size in CSS pixels; screenshots are SCALE times
    that (less the window's own frame, in height).

    SE_OFFLINE: selenium must never look for (or download) a driver, since
    Debian's are given.
    """
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",  # running as root
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={window[0]},{window[1]}",
        f"--force-device-scale-factor={SCALE}",
    ):
        options.add_argument(flag)
    with mock.patch.dict(os.environ, {"SE_OFFLINE": "true"}):
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def png_size(data: bytes) -> tuple[int, int]:
    """Decode a PNG's pixel data (stdlib only) and return its width and height; raise if it is broken."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat, header = 8, b"", b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        chunk = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + chunk) == crc, kind
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        position += 12 + length
    width, height, depth, color_type = struct.unpack(">IIBB", header[:10])
    channels = {2: 3, 6: 4}[color_type]
    assert len(zlib.decompress(idat)) == height * (1 + width * channels * depth // 8)
    return width, height


def ocr(png: Path) -> str:
    """Return the text tesseract reads in `png`, upper-cased, whitespace collapsed to single spaces."""
    result = subprocess.run(
        ["tesseract", str(png), "-"], capture_output=True, text=True, timeout=120, check=True
    )
    return " ".join(result.stdout.split()).upper()
