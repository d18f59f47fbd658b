"""Turn an uploaded photo into the JPEG renditions v1 serves, with Pillow only.

`process_photo(data, filter_name=...)` validates the upload, decodes it once
and returns the three v1 renditions plus a stored original, all JPEG. It
touches no database, storage or network, so the upload action can call it
before opening a transaction.

Decisions, and why:

- **Validation before decoding.** Size in bytes, then the format and the
  dimensions from the header, are checked before any pixel is decoded, so a
  20000x20000 PNG that compresses to a few kilobytes is refused without
  allocating its 400M pixels. Pillow's own decompression-bomb guard
  (`Image.MAX_IMAGE_PIXELS`) stays on as a second line: its error, and its
  warning turned into an error, are refused like our limit. `MAX_PIXELS`
  (40M) keeps the worst decode near 160 MB (Pillow holds RGB as 4 bytes a
  pixel); large JPEGs are decoded at a reduced scale (`Image.draft`), so only
  PNGs ever get near that.
- **Truncated files are refused**, not padded with gray: the header is
  checked with `Image.verify()` (PNG chunk checksums), then the image is fully
  decoded with `ImageFile.LOAD_TRUNCATED_IMAGES` off. That flag is
  process-wide; we refuse to run if someone turned it on rather than quietly
  accept half photos.
- **Small photos are refused** below `MIN_SIDE` (150, the thumbnail) on the
  shorter side. v1 accepted them and upscaled, but a photo smaller than the
  thumbnail has nothing to show at any size; such uploads are icons, tracking
  pixels or mistakes. Between 150 and 612 the renditions are upscaled
  (LANCZOS): soft, but the feed needs a 612 square.
- **Renditions are square centre crops**, not letterboxed: Instagram 2011
  photos were square, clients lay them out as squares, and bars would waste
  a third of a landscape thumbnail. The largest centred square is resized
  once to 612, and 306 and 150 are resized from the rendition above (cheaper
  than going back to the source each time, and indistinguishable).
- **The original keeps the whole frame**, oriented and stripped, downscaled
  (never upscaled) to `ORIGINAL_MAX_SIDE` on its longest side: it is what
  the user posted, kept for renditions we may add later. A JPEG of 4096
  pixels or more is decoded at 1/2 to 1/8 scale by libjpeg, and its
  original may come out up to 5% under the cap when that saves decoding it
  in full (a 12 MP phone photo: 2016x1512, 3.5x faster; see `_draft`).
- **The filter is applied to everything**, the renditions and the original,
  since the filtered photo is what the user posted. The square renditions
  are filtered as a square (a vignette belongs to the frame clients show),
  at 612 before the smaller sizes are made; the original is filtered as its
  own frame. When the source is square, its centre square *is* the frame,
  so the filter runs once, on the original, and the renditions come from it.
- **All metadata is dropped**: EXIF (GPS above all; the orientation is
  applied to the pixels first, and damaged EXIF counts as no orientation),
  XMP, comments and ICC profiles. Pixels are
  taken as sRGB, which is what phones of 2011 produced; a wide-gamut upload
  looks slightly flatter than on the phone (converting costs ~40 ms a
  photo with lcms).
- **Encoding**: optimized Huffman tables everywhere (10-15% smaller for a
  few ms); progressive only for the 612 rendition, the one shown large, as
  progressive encoding costs about twice the time. Quality 85, 80 for the
  150 thumbnail, 90 for the original, which later renditions may be made from.

Decompression bombs are refused from the header, before decoding, by
MAX_PIXELS, well under Pillow's own warning threshold (89M pixels); its
DecompressionBombError stays caught as a second line. No warnings filter
is changed: `warnings.catch_warnings` is process-global, and gunicorn's
gthread workers process photos in several threads at once.
"""

import math
import struct
import zlib
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from PIL import ExifTags, Image, ImageFile, UnidentifiedImageError

from photos.filters import apply_filter, parse_filter

MAX_UPLOAD_BYTES = 12 * 1024 * 1024  # the encoded file
MAX_PIXELS = 40_000_000  # width*height, checked from the header before decoding
MAX_SIDE = 10_000  # either side, from the header
MIN_SIDE = 150  # the shorter side; smaller photos are refused
ORIGINAL_MAX_SIDE = 2048  # the stored original's longest side, at most (see _draft for large JPEGs)
RENDITIONS = {"thumbnail": 150, "low_resolution": 306, "standard_resolution": 612}
ALLOWED_FORMATS = {"JPEG", "PNG"}

_LARGEST = max(RENDITIONS.values())
# A large JPEG's original may come out up to 5% under ORIGINAL_MAX_SIDE, when that saves decoding it in full.
_DRAFT_SLACK = 0.95
_JPEG = "image/jpeg"
_PILLOW_FORMATS = sorted(ALLOWED_FORMATS)  # the only decoders Pillow may try: no GIF, TIFF, EPS...
_SAVE_OPTIONS: dict[str, dict[str, Any]] = {
    "thumbnail": {"quality": 80},
    "low_resolution": {"quality": 85},
    "standard_resolution": {"quality": 85, "progressive": True},
    "original": {"quality": 90},
}

# EXIF Orientation -> the transpose that turns the stored frame upright.
_ORIENTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# What Pillow raises on a damaged file while verifying or decoding it.
_DAMAGED = (OSError, SyntaxError, EOFError, ValueError, IndexError, struct.error, zlib.error)

# Signatures of the images people try to upload instead, to say what was sent.
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SIGNATURE = b"\xff\xd8\xff"


class ImageRejected(ValueError):
    """The upload is not an acceptable photo; str(exc) is a client-facing message naming the problem."""


@dataclass(frozen=True)
class Rendition:
    """One stored JPEG: its name, bytes and size."""

    name: str  # "thumbnail" | "low_resolution" | "standard_resolution" | "original"
    data: bytes  # JPEG bytes, without any metadata
    width: int
    height: int
    content_type: str  # "image/jpeg"


@dataclass(frozen=True)
class ProcessedPhoto:
    """Everything stored for one upload."""

    renditions: dict[str, Rendition]  # the three v1 renditions + "original"
    source_format: str  # "JPEG" or "PNG"
    source_width: int  # after EXIF orientation
    source_height: int


@dataclass(frozen=True)
class _Decoded:
    image: Image.Image  # RGB, oriented, no info; possibly decoded at a reduced scale
    source_format: str
    source_width: int
    source_height: int


def process_photo(data: bytes, *, filter_name: str) -> ProcessedPhoto:
    """Validate `data`, apply the filter, and return the renditions and the original as JPEG.

    `filter_name` is a slug or a v1 display name; an unknown one raises
    photos.filters.UnknownFilter (a ValueError) before the photo is read.
    Raise ImageRejected when the photo is not acceptable.
    """
    slug = parse_filter(filter_name)
    decoded = _decode(data)

    original = _fit(decoded.image, longest=ORIGINAL_MAX_SIDE)
    filtered_original = apply_filter(original, slug)
    if original.width == original.height:
        square = _resize(filtered_original, side=_LARGEST)
    else:
        # Crop and resize in one pass, then filter the square itself: its vignette frames the square.
        box = _centre_square(original.size)
        crop = original.resize((_LARGEST, _LARGEST), Image.Resampling.LANCZOS, box=box)
        square = apply_filter(crop, slug)

    images: dict[str, Image.Image] = {"original": filtered_original}
    for name, side in sorted(RENDITIONS.items(), key=lambda item: -item[1]):
        images[name] = square = _resize(square, side=side)  # each from the one above: 612 -> 306 -> 150
    return ProcessedPhoto(
        renditions={name: _encode(name, image) for name, image in images.items()},
        source_format=decoded.source_format,
        source_width=decoded.source_width,
        source_height=decoded.source_height,
    )


def _decode(data: bytes) -> _Decoded:
    """Check `data` from its header, then decode it fully into an oriented RGB image without metadata."""
    if not data:
        raise ImageRejected("the photo is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageRejected(f"the photo is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError("ImageFile.LOAD_TRUNCATED_IMAGES is on: truncated uploads would be accepted")

    try:
        probe = _open(data)
        width, height = probe.size
        _check_dimensions(width=width, height=height)
        image = _load(data, probe)
    except Image.DecompressionBombError as exc:
        raise ImageRejected(
            f"the photo has too many pixels; at most {MAX_PIXELS} pixels and {MAX_SIDE} on a side"
        ) from exc

    source_format = "JPEG" if probe.format == "MPO" else str(probe.format)
    oriented = _orient(image)
    if oriented.size != image.size:
        width, height = height, width
    rgb = _to_rgb(oriented)
    rgb.info = {}  # EXIF, XMP, ICC profile, comments: nothing follows the pixels into the output
    return _Decoded(image=rgb, source_format=source_format, source_width=width, source_height=height)


def _open(data: bytes) -> ImageFile.ImageFile:
    """Parse the header of `data` as a JPEG or PNG; refuse anything else, naming what it is."""
    try:
        image = Image.open(BytesIO(data), formats=_PILLOW_FORMATS)
    except UnidentifiedImageError as exc:
        if data.startswith((_PNG_SIGNATURE, _JPEG_SIGNATURE)):
            raise ImageRejected("the photo is truncated or corrupt") from exc
        if (other := _other_format(data)) is not None:
            raise ImageRejected(f"the photo is a {other} image; only JPEG and PNG are accepted") from exc
        raise ImageRejected("the photo is not a JPEG or PNG image") from exc
    except _DAMAGED as exc:
        raise ImageRejected("the photo is truncated or corrupt") from exc
    assert isinstance(image, ImageFile.ImageFile)
    return image


def _load(data: bytes, probe: ImageFile.ImageFile) -> ImageFile.ImageFile:
    """Verify the file the header `probe` came from, then decode it in full; refuse it if damaged."""
    try:
        probe.verify()
        # verify() leaves `probe` unusable: decode from a fresh parse of the header.
        image = Image.open(BytesIO(data), formats=_PILLOW_FORMATS)
        assert isinstance(image, ImageFile.ImageFile)
        _draft(image)
        image.load()
    except _DAMAGED as exc:
        raise ImageRejected("the photo is truncated or corrupt") from exc
    return image


def _other_format(data: bytes) -> str | None:
    """Name the image format `data` starts with, among those people upload by mistake."""
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[4:8] == b"ftyp" and data[8:12] in {b"heic", b"heix", b"mif1", b"msf1", b"avif"}:
        return "HEIC/AVIF"
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return "TIFF"
    if data[:2] == b"BM" and data[6:10] == b"\x00\x00\x00\x00":
        return "BMP"
    return None


def _check_dimensions(*, width: int, height: int) -> None:
    if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
        raise ImageRejected(
            f"the photo is {width}x{height} pixels; at most {MAX_PIXELS} pixels and {MAX_SIDE} on a side"
        )
    if min(width, height) < MIN_SIDE:
        raise ImageRejected(f"the photo is {width}x{height} pixels; at least {MIN_SIDE} on each side")


def _draft(image: ImageFile.ImageFile) -> None:
    """Have libjpeg decode a large JPEG at 1/2, 1/4 or 1/8 scale, still covering every output size.

    The scaled decode keeps the shorter side >= the largest rendition, and
    the longest side within `_DRAFT_SLACK` of ORIGINAL_MAX_SIDE. The slack is
    what makes this pay for the commonest upload, a 12 MP phone photo
    (4032x3024): it decodes at 2016x1512 and needs no resize at all, about
    3.5x faster than a full decode resized to 2048, for a stored original
    1.6% smaller on a side.
    """
    if image.format not in {"JPEG", "MPO"}:
        return
    width, height = image.size
    scale = max(ORIGINAL_MAX_SIDE * _DRAFT_SLACK / max(width, height), _LARGEST / min(width, height))
    if scale <= 0.5:
        image.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))


def _orient(image: Image.Image) -> Image.Image:
    """Turn `image` upright as its EXIF (or XMP) Orientation says.

    The table of ImageOps.exif_transpose, without its rewriting of the EXIF
    block afterwards: that fails on damaged EXIF (struct.error), and the
    metadata is dropped anyway. Unreadable EXIF counts as no orientation.
    """
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation)
    except _DAMAGED:
        return image
    method = _ORIENTATIONS.get(orientation) if isinstance(orientation, int) else None
    return image if method is None else image.transpose(method)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Return `image` as RGB: transparency composited on white, 16-bit gray scaled down to 8 bits."""
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I"):
        # 16-bit grayscale PNG: convert("L") would clip everything above 255 to white.
        image = image.point(lambda value: value * (1 / 257)).convert("L")
        image.info.pop("transparency", None)  # in 16-bit units, meaningless at 8 bits
    if image.mode in {"RGBA", "LA", "PA", "La", "RGBa"} or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba, mask=rgba)
        return background
    return image.convert("RGB")


def _fit(image: Image.Image, *, longest: int) -> Image.Image:
    """Downscale `image` so that its longest side is at most `longest`; return it unchanged if it fits."""
    width, height = image.size
    if max(width, height) <= longest:
        return image
    scale = longest / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # reducing_gap first shrinks by an integer factor (cheap box filter) when the ratio is >= 6.
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _centre_square(size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Return the box of the largest square centred in an image of `size`."""
    width, height = size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return (left, top, left + side, top + side)


def _resize(square: Image.Image, *, side: int) -> Image.Image:
    """Resize a square image to `side`, up or down; return it unchanged when it already has that size."""
    if square.size == (side, side):
        return square
    return square.resize((side, side), Image.Resampling.LANCZOS)


def _encode(name: str, image: Image.Image) -> Rendition:
    """Encode `image` as the JPEG rendition `name`, writing no metadata at all."""
    buffer = BytesIO()
    image.save(buffer, "JPEG", optimize=True, exif=b"", **_SAVE_OPTIONS[name])
    return Rendition(
        name=name, data=buffer.getvalue(), width=image.width, height=image.height, content_type=_JPEG
    )
