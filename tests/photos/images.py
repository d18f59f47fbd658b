"""Photos made on the fly for the tests (no binary fixtures in the repository)."""

import io

from PIL import Image


def jpeg(
    width: int = 1080,
    height: int = 1080,
    *,
    color: tuple[int, int, int] = (200, 120, 40),
    quality: int = 90,
    **save: object,
) -> bytes:
    """A JPEG of one color with a darker square in the middle (so crops and filters show)."""
    image = Image.new("RGB", (width, height), color)
    inner = (width // 4, height // 4, 3 * width // 4, 3 * height // 4)
    image.paste((color[0] // 2, color[1] // 2, color[2] // 2), inner)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, **save)
    return out.getvalue()


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


def gps_jpeg() -> bytes:
    """A JPEG whose EXIF says where it was taken (what must never be served)."""
    exif = Image.Exif()
    exif[0x010F] = "Apple"  # Make
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (37.0, 46.0, 30.0)  # GPSLatitudeRef, GPSLatitude
    gps[3], gps[4] = "W", (122.0, 25.0, 10.0)
    return jpeg(800, 600, exif=exif.tobytes())
