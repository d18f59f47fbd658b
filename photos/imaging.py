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
  than going back to the source each time, and indistinguishable; 306 is
  the exact half of 612, made by averaging 2x2 blocks).
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
- **No second generation when it would only lose** (`_kept_as_sent`): with
  no filter, an upright 4:2:0 JPEG already at a rendition's size (the
  original: up to 2048; standard_resolution: a phone's 612x612) whose
  quantization is no finer than our encode's at that quality is stored as
  sent, its metadata segments removed and its scan data untouched. It saves
  the largest encode (12 of 54 ms for a 1080x1080 upload) and, for a large
  JPEG, decoding more than the renditions need.

- **Memory per upload is bounded** (`MAX_WORKING_BYTES`): the pixels that
  decoding and processing hold are estimated from the header (width x height x
  Pillow's bytes per pixel of the decoded mode) and a photo over the bound is
  refused before decoding. What is decoded is turned into RGB and shrunk by an
  integer factor band by band (`_shrink_to_rgb`), so a 40 MP RGBA PNG holds
  its decoded pixels plus a small output, never two or three full-size copies
  (compositing on white, then box-reducing, is what a premultiplied reduce
  would give). At most `CONCURRENT_DECODES` photos are processed at once per
  process, so a gthread worker's memory is bounded too, whatever its threads.
  Measured peaks (the worst input: a 40 MP RGBA PNG of 165 KB) are in
  tests/photos/test_imaging_memory.py.

Decompression bombs are refused from the header, before decoding, by
MAX_PIXELS, well under Pillow's own warning threshold (89M pixels); its
DecompressionBombError stays caught as a second line. No warnings filter
is changed: `warnings.catch_warnings` is process-global, and gunicorn's
gthread workers process photos in several threads at once.
"""

import math
import struct
import threading
import zlib
from dataclasses import dataclass
from functools import cache
from io import BytesIO
from typing import Any

from PIL import ExifTags, Image, ImageFile, JpegImagePlugin, UnidentifiedImageError

from photos.filters import apply_filter, parse_filter

MAX_UPLOAD_BYTES = 12 * 1024 * 1024  # the encoded file
MAX_PIXELS = 40_000_000  # width*height, checked from the header before decoding
MAX_SIDE = 10_000  # either side, from the header
MIN_SIDE = 150  # the shorter side; smaller photos are refused
ORIGINAL_MAX_SIDE = 2048  # the stored original's longest side, at most (see _draft for large JPEGs)
RENDITIONS = {"thumbnail": 150, "low_resolution": 306, "standard_resolution": 612}
RENDITIONS_STORED = (*RENDITIONS, "original")  # every object an upload writes, and a delete removes
ALLOWED_FORMATS = {"JPEG", "PNG"}
MAX_WORKING_BYTES = 192 * 1024 * 1024  # the decoded pixels and the output of _shrink_to_rgb, estimated
CONCURRENT_DECODES = 2  # photos processed at once per process; more wait their turn

_LARGEST = max(RENDITIONS.values())
# A large JPEG's original may come out up to 5% under ORIGINAL_MAX_SIDE, when that saves decoding it in full.
_DRAFT_SLACK = 0.95
_JPEG = "image/jpeg"
_DECODE_SLOTS = threading.BoundedSemaphore(CONCURRENT_DECODES)
_BAND_ROWS = 256  # rows converted at a time by _shrink_to_rgb (rounded to a multiple of its factor)
# Bytes a pixel takes in Pillow's memory, by mode (RGB is stored as 4, like RGBA).
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "LA": 4, "PA": 4}
_PILLOW_FORMATS = sorted(ALLOWED_FORMATS)  # the only decoders Pillow may try: no GIF, TIFF, EPS...
_SAVE_OPTIONS: dict[str, dict[str, Any]] = {
    "thumbnail": {"quality": 80},
    "low_resolution": {"quality": 85},
    "standard_resolution": {"quality": 85, "progressive": True},
    "original": {"quality": 90},
    "profile_picture": {"quality": 85},
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
    kept: dict[str, Rendition]  # renditions stored as the upload's own JPEG data (see _kept_as_sent)


def process_photo(data: bytes, *, filter_name: str) -> ProcessedPhoto:
    """Validate `data`, apply the filter, and return the renditions and the original as JPEG.

    `filter_name` is a slug or a v1 display name; an unknown one raises
    photos.filters.UnknownFilter (a ValueError) before the photo is read.
    Raise ImageRejected when the photo is not acceptable.
    """
    slug = parse_filter(filter_name)
    with _DECODE_SLOTS:
        return _process(data, slug=slug)


def _process(data: bytes, *, slug: str) -> ProcessedPhoto:
    decoded = _decode(data, keep=slug == "normal")

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
    renditions = {name: decoded.kept.get(name) or _encode(name, image) for name, image in images.items()}
    return ProcessedPhoto(
        renditions=renditions,
        source_format=decoded.source_format,
        source_width=decoded.source_width,
        source_height=decoded.source_height,
    )


def _decode(data: bytes, *, keep: bool = False) -> _Decoded:
    """Check `data` from its header, then decode it fully into an oriented RGB image without metadata.

    With `keep` (no filter to apply), the renditions the upload's own JPEG
    data can stand for are returned in `kept`, and a JPEG whose original is
    kept is decoded at the smallest scale that still covers the renditions.
    """
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
        _check_working_memory(probe)
        kept = _kept_as_sent(probe, data) if keep else {}
        image = _load(data, probe, cover_renditions_only="original" in kept)
    except Image.DecompressionBombError as exc:
        raise ImageRejected(
            f"the photo has too many pixels; at most {MAX_PIXELS} pixels and {MAX_SIDE} on a side"
        ) from exc

    source_format = "JPEG" if probe.format == "MPO" else str(probe.format)
    orientation = _orientation(image)
    # Shrink and convert first, orient after: a transpose of the full-size decode would copy it whole.
    rgb = _shrink_to_rgb(image)
    del image
    oriented = _orient(rgb, orientation=orientation)
    if oriented.size != rgb.size:
        width, height = height, width
    oriented.info = {}  # EXIF, XMP, ICC profile, comments: nothing follows the pixels into the output
    return _Decoded(
        image=oriented, source_format=source_format, source_width=width, source_height=height, kept=kept
    )


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


def _load(data: bytes, probe: ImageFile.ImageFile, *, cover_renditions_only: bool) -> ImageFile.ImageFile:
    """Verify the file the header `probe` came from, then decode it in full; refuse it if damaged.

    `cover_renditions_only`: the original is not made from the pixels, so a
    JPEG may be decoded at any scale that still covers the largest rendition.
    """
    try:
        probe.verify()
        # verify() leaves `probe` unusable: decode from a fresh parse of the header.
        image = Image.open(BytesIO(data), formats=_PILLOW_FORMATS)
        assert isinstance(image, ImageFile.ImageFile)
        _draft(image, cover_renditions_only=cover_renditions_only)
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


def _working_bytes(*, mode: str, width: int, height: int) -> int:
    """Estimate the bytes processing holds at its peak: the decoded pixels and the shrunk RGB output."""
    decoded = width * height * _BYTES_PER_PIXEL.get(mode, 4)
    factor = _shrink_factor(width=width, height=height)
    output = math.ceil(width / factor) * math.ceil(height / factor) * 4
    return decoded + (0 if factor == 1 and mode == "RGB" else output)


def _check_working_memory(probe: ImageFile.ImageFile) -> None:
    """Refuse a photo whose decode would hold more than MAX_WORKING_BYTES, from its header alone.

    A JPEG is estimated at the scale it will be decoded (`_draft`); a PNG can
    only be decoded whole.
    """
    width, height = probe.size
    if probe.format in {"JPEG", "MPO"}:
        width, height = _draft_size(width=width, height=height)
    needed = _working_bytes(mode=probe.mode, width=width, height=height)
    if needed > MAX_WORKING_BYTES:
        mb = 1024 * 1024
        raise ImageRejected(
            f"the photo is {probe.size[0]}x{probe.size[1]} pixels in mode {probe.mode}: "
            f"processing it would need {needed // mb} MB, at most {MAX_WORKING_BYTES // mb} MB"
        )


def _shrink_factor(*, width: int, height: int) -> int:
    """Return the largest integer factor an image can be reduced by and still cover every output size."""
    longest, shortest = max(width, height), min(width, height)
    return max(1, min(int(longest / (ORIGINAL_MAX_SIDE * _DRAFT_SLACK)), shortest // _LARGEST))


def _shrink_to_rgb(image: Image.Image) -> Image.Image:
    """Return `image` as RGB, reduced by `_shrink_factor`, converting one band of rows at a time.

    Only a band is ever converted (composited on white, 16-bit scaled down)
    and box-reduced at once, so the peak is the decoded image plus the small
    output, not full-size copies of it.
    """
    factor = _shrink_factor(width=image.width, height=image.height)
    if image.mode == "RGB":
        return image if factor == 1 else image.reduce(factor)
    width, height = image.size
    band_rows = max(factor, _BAND_ROWS // factor * factor)
    output = Image.new("RGB", (math.ceil(width / factor), math.ceil(height / factor)))
    for top in range(0, height, band_rows):
        band = _to_rgb(image.crop((0, top, width, min(height, top + band_rows))))
        output.paste(band if factor == 1 else band.reduce(factor), (0, top // factor))
    return output


def _draft_size(*, width: int, height: int) -> tuple[int, int]:
    """Return the size `_draft` has libjpeg decode a JPEG of width x height at."""
    scale = _draft_scale(width=width, height=height)
    if scale > 0.5:
        return width, height
    # libjpeg scales by 1/2, 1/4 or 1/8: the smallest that still reaches the requested size.
    for denominator in (8, 4, 2):
        size = (math.ceil(width / denominator), math.ceil(height / denominator))
        if size[0] >= math.ceil(width * scale) and size[1] >= math.ceil(height * scale):
            return size
    return width, height


def _draft_scale(*, width: int, height: int, cover_renditions_only: bool = False) -> float:
    renditions = _LARGEST / min(width, height)
    if cover_renditions_only:
        return renditions
    return max(ORIGINAL_MAX_SIDE * _DRAFT_SLACK / max(width, height), renditions)


def _draft(image: ImageFile.ImageFile, *, cover_renditions_only: bool = False) -> None:
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
    scale = _draft_scale(width=width, height=height, cover_renditions_only=cover_renditions_only)
    if scale <= 0.5:
        image.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))


def _orientation(image: Image.Image) -> object:
    """Return the EXIF (or XMP) Orientation of `image`; None when absent or unreadable."""
    try:
        return image.getexif().get(ExifTags.Base.Orientation)
    except _DAMAGED:
        return None


def _orient(image: Image.Image, *, orientation: object) -> Image.Image:
    """Turn `image` upright as `orientation` (its EXIF Orientation) says.

    The table of ImageOps.exif_transpose, without its rewriting of the EXIF
    block afterwards: that fails on damaged EXIF (struct.error), and the
    metadata is dropped anyway. Anything but a known value counts as no orientation.
    """
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
    """Resize a square image to `side`, up or down; return it unchanged when it already has that size.

    Exact halving (612 -> 306) averages each 2x2 block (`reduce`): 15 times
    cheaper than LANCZOS, and its difference from LANCZOS's output (42-47 dB
    PSNR on photos) is smaller than what the JPEG encode at quality 85 loses.
    """
    if square.size == (side, side):
        return square
    if square.size == (2 * side, 2 * side):
        return square.reduce(2)
    return square.resize((side, side), Image.Resampling.LANCZOS)


def _kept_as_sent(probe: ImageFile.ImageFile, data: bytes) -> dict[str, Rendition]:
    """Return the renditions the upload's own JPEG data can be stored as, without decoding or re-encoding.

    A JPEG that is upright, RGB (YCbCr), 4:2:0, whose size already is the
    rendition's (the original: at most ORIGINAL_MAX_SIDE; the 612 square:
    612x612, as Instagram's app sent it) and whose quantization is at least
    as coarse as our encode at the rendition's quality, holds nothing our
    encode would keep and it would lose: re-encoding would only cost time
    and add a second generation of loss. It is stored as sent, less every
    metadata segment (`_strip_jpeg`). The caller applies no filter.
    """
    width, height = probe.size
    if (
        not isinstance(probe, JpegImagePlugin.JpegImageFile)
        or probe.format != "JPEG"  # not MPO: its other pictures follow the first one's end
        or probe.mode != "RGB"
        or "adobe" in probe.info  # an Adobe segment can say the data is not YCbCr: dropping it would recolour
        or _orientation(probe) not in (None, 1)
        or JpegImagePlugin.get_sampling(probe) != 2  # 4:2:0, what our encode writes
    ):
        return {}
    wanted = []
    if max(width, height) <= ORIGINAL_MAX_SIDE:
        wanted.append("original")
    if (width, height) == (_LARGEST, _LARGEST):
        wanted.append("standard_resolution")
    wanted = [name for name in wanted if _coarse_enough(probe, quality=_SAVE_OPTIONS[name]["quality"])]
    stripped = _strip_jpeg(data) if wanted else None
    if stripped is None:
        return {}
    return {
        name: Rendition(name=name, data=stripped, width=width, height=height, content_type=_JPEG)
        for name in wanted
    }


def _coarse_enough(probe: JpegImagePlugin.JpegImageFile, *, quality: int) -> bool:
    """Return whether each component's quantization table is at least our encode's at `quality`."""
    reference = _quantization_at(quality)
    tables = probe.quantization
    for index, (_, _, _, table_id) in enumerate(probe.layer):
        table, ours = tables.get(table_id), reference[min(index, 1)]  # luma, then chroma
        if table is None or len(table) != len(ours) or any(a < b for a, b in zip(table, ours, strict=True)):
            return False
    return True


@cache
def _quantization_at(quality: int) -> dict[int, list[int]]:
    """Return the quantization tables (0: luma, 1: chroma) libjpeg writes at `quality`, as Pillow reads."""
    buffer = BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, "JPEG", quality=quality)
    written = Image.open(buffer)
    assert isinstance(written, JpegImagePlugin.JpegImageFile)
    return dict(written.quantization)


# Segments a JPEG's image is made of; everything else is metadata (APPn, COM) or not ours to keep.
_SOI, _EOI, _SOS = 0xD8, 0xD9, 0xDA
_IMAGE_SEGMENTS = {0xC0, 0xC1, 0xC2, 0xC4, 0xDB, 0xDD}  # SOF0-2, DHT, DQT, DRI
_METADATA_SEGMENTS = {*range(0xE0, 0xF0), 0xFE}  # APP0-15, COM
# The JFIF header our encode writes (version 1.1, no density): the only APP segment kept.
_JFIF = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"


def _strip_jpeg(data: bytes) -> bytes | None:
    """Return the JPEG `data` with only its image segments and a JFIF header; None if it has others.

    EXIF, XMP, ICC, comments and anything after the end marker are dropped;
    the entropy-coded data is copied byte for byte, so it decodes to exactly
    the pixels Pillow already decoded from `data`.
    """
    if not data.startswith(b"\xff\xd8"):
        return None
    out = [b"\xff\xd8", _JFIF]
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker == _EOI:
            out.append(b"\xff\xd9")
            return b"".join(out)
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        end = position + 2 + length
        if length < 2 or end > len(data):
            return None
        if marker in _METADATA_SEGMENTS:
            position = end
            continue
        if marker not in _IMAGE_SEGMENTS and marker != _SOS:
            return None
        if marker == _SOS:
            end = _scan_end(data, end)
        out.append(data[position:end])
        position = end
    if position + 2 == len(data) and data[position:] == b"\xff\xd9":
        out.append(b"\xff\xd9")
        return b"".join(out)
    return None


def _scan_end(data: bytes, position: int) -> int:
    """Return where the entropy-coded data starting at `position` ends: its first real marker."""
    while (position := data.find(b"\xff", position)) != -1 and position + 1 < len(data):
        following = data[position + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:  # a stuffed 0xFF, a restart marker
            position += 2
            continue
        return position
    return len(data)


def _encode(name: str, image: Image.Image) -> Rendition:
    """Encode `image` as the JPEG rendition `name`, writing no metadata at all."""
    buffer = BytesIO()
    image.save(buffer, "JPEG", optimize=True, exif=b"", **_SAVE_OPTIONS[name])
    return Rendition(
        name=name, data=buffer.getvalue(), width=image.width, height=image.height, content_type=_JPEG
    )


PROFILE_PICTURE_SIDE = 150  # the one size v1 served profile pictures at


def process_profile_picture(data: bytes) -> Rendition:
    """Validate `data` as a photo upload is validated; return its centre square as a 150x150 JPEG.

    One rendition only: v1 served profile pictures at 150x150 and nothing
    larger, and the upload itself is not kept (no filter, no original).
    Raise ImageRejected when the picture is not acceptable.
    """
    with _DECODE_SLOTS:
        decoded = _decode(data)
        image = decoded.image
        square = image.resize(
            (PROFILE_PICTURE_SIDE, PROFILE_PICTURE_SIDE),
            Image.Resampling.LANCZOS,
            box=_centre_square(image.size),
            reducing_gap=3.0,
        )
        return _encode("profile_picture", square)
