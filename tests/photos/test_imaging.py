"""The upload pipeline: what comes out (square JPEGs, no metadata) and what is refused."""

import io
import random
import struct
import zlib
from typing import Any

import pytest
from PIL import Image, ImageCms, ImageFile, JpegImagePlugin

from photos.filters import UnknownFilter
from photos.imaging import (
    MAX_PIXELS,
    MAX_UPLOAD_BYTES,
    RENDITIONS,
    ImageRejected,
    ProcessedPhoto,
    process_photo,
)

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 160, 0), (0, 0, 255), (255, 255, 255)
GPS_IFD = 0x8825
ORIENTATION = 0x0112


def encode(image: Image.Image, fmt: str = "JPEG", **save: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


def halves(size: tuple[int, int], left: tuple[int, int, int], right: tuple[int, int, int]) -> Image.Image:
    """An image whose left half is `left` and right half is `right`."""
    width, height = size
    image = Image.new("RGB", size, right)
    image.paste(left, (0, 0, width // 2, height))
    return image


def band(size: tuple[int, int]) -> Image.Image:
    """A green centred square between a red margin and a blue one: only a centred crop is all green."""
    width, height = size
    image = Image.new("RGB", size, RED)
    side = min(size)
    left, top = (width - side) // 2, (height - side) // 2
    image.paste(BLUE, (left + side, 0, width, height) if width > height else (0, top + side, width, height))
    image.paste(GREEN, (left, top, left + side, top + side))
    return image


def near(pixel: Any, expected: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


def gray_at(image: Image.Image, xy: tuple[int, int]) -> int:
    value = image.convert("L").getpixel(xy)
    assert isinstance(value, int)
    return value


def decoded(photo: ProcessedPhoto, name: str) -> Image.Image:
    image = Image.open(io.BytesIO(photo.renditions[name].data))
    image.load()
    return image


def app_markers(jpeg: bytes) -> list[int]:
    """Return the APPn and COM markers of a JPEG's header, where metadata lives."""
    markers, at = [], 2
    while at < len(jpeg):
        marker, length = jpeg[at + 1], struct.unpack(">H", jpeg[at + 2 : at + 4])[0]
        if marker == 0xDA:  # start of scan: the pixels follow
            break
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:
            markers.append(marker)
        at += 2 + length
    return markers


def png_of_size(width: int, height: int) -> bytes:
    """A valid 1-bit black PNG of any size, built without Pillow so that it costs nothing to make.

    A 20000x20000 one is a decompression bomb: ~50 KB that would decode to 400M pixels.
    """

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" * (1 + (width + 7) // 8)
    compressor = zlib.compressobj(9)
    rows_per_step = 500
    idat = b"".join(compressor.compress(row * rows_per_step) for _ in range(height // rows_per_step))
    idat += compressor.compress(row * (height % rows_per_step)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any pixel is decoded."""

    def refuse(self: Image.Image) -> None:
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    monkeypatch.setattr(Image.Image, "load", refuse)


def rejected(data: bytes) -> str:
    with pytest.raises(ImageRejected) as caught:
        process_photo(data, filter_name="normal")
    return str(caught.value)


# What comes out


def test_renditions_are_jpeg_squares_of_their_size() -> None:
    photo = process_photo(encode(band((800, 600))), filter_name="normal")
    assert set(photo.renditions) == {*RENDITIONS, "original"}
    for name, side in RENDITIONS.items():
        rendition = photo.renditions[name]
        image = decoded(photo, name)
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (side, side))
        assert (rendition.name, rendition.width, rendition.height) == (name, side, side)
        assert rendition.content_type == "image/jpeg"
    assert (photo.source_format, photo.source_width, photo.source_height) == ("JPEG", 800, 600)
    original = photo.renditions["original"]
    assert (original.width, original.height) == decoded(photo, "original").size == (800, 600)


def gps_exif(*, orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Apple"  # Make
    exif[ORIENTATION] = orientation
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2] = "N", (37.0, 46.0, 30.0)  # GPSLatitudeRef, GPSLatitude
    gps[3], gps[4] = "W", (122.0, 25.0, 10.0)
    return exif


def test_orientation_is_applied_then_every_piece_of_metadata_is_dropped() -> None:
    # A phone held upright stores the frame sideways with Orientation 6 (turn 90 degrees clockwise).
    exif = gps_exif(orientation=6)
    upload = encode(
        halves((400, 200), RED, BLUE),
        exif=exif.tobytes(),
        xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/">GPS 37.7</x:xmpmeta>',
        comment=b"taken at home",
        icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
    )
    assert Image.open(io.BytesIO(upload)).getexif().get_ifd(GPS_IFD), "the upload carries GPS"

    photo = process_photo(upload, filter_name="normal")

    assert (photo.source_width, photo.source_height) == (200, 400)
    original = decoded(photo, "original")
    assert original.size == (200, 400)
    assert near(original.getpixel((100, 50)), RED), "the left half is now on top"
    assert near(original.getpixel((100, 350)), BLUE)
    standard = decoded(photo, "standard_resolution")
    assert near(standard.getpixel((306, 100)), RED)
    assert near(standard.getpixel((306, 510)), BLUE)
    for name, rendition in photo.renditions.items():
        image = decoded(photo, name)
        assert not image.getexif(), name
        assert not {"exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "comment"} & set(image.info), name
        assert app_markers(rendition.data) == [0xE0], f"{name}: only the JFIF header, no APP1/APP2/COM"
        assert b"GPS" not in rendition.data
        assert b"Apple" not in rendition.data


def test_png_metadata_is_dropped_too() -> None:
    upload = encode(halves((400, 200), RED, BLUE), "PNG", exif=gps_exif(orientation=6).tobytes())
    photo = process_photo(upload, filter_name="normal")
    assert photo.source_format == "PNG"
    assert (photo.source_width, photo.source_height) == (200, 400)
    assert near(decoded(photo, "original").getpixel((100, 50)), RED)
    for name, rendition in photo.renditions.items():
        assert not decoded(photo, name).getexif()
        assert app_markers(rendition.data) == [0xE0]


@pytest.mark.parametrize("size", [(900, 300), (300, 900), (1001, 700)])
def test_renditions_are_the_centred_square(size: tuple[int, int]) -> None:
    photo = process_photo(encode(band(size), "PNG"), filter_name="normal")
    for name, side in RENDITIONS.items():
        image = decoded(photo, name)
        inset = side // 20
        for x in (inset, side // 2, side - 1 - inset):
            for y in (inset, side // 2, side - 1 - inset):
                assert near(image.getpixel((x, y)), GREEN), f"{name} at {x},{y}: {image.getpixel((x, y))}"


def test_the_original_keeps_the_whole_frame_capped_at_2048() -> None:
    photo = process_photo(encode(band((3000, 1000))), filter_name="normal")
    assert decoded(photo, "original").size == (2048, 683)
    assert (photo.source_width, photo.source_height) == (3000, 1000)
    original = decoded(photo, "original")
    assert near(original.getpixel((50, 341)), RED)
    assert near(original.getpixel((1024, 341)), GREEN)
    assert near(original.getpixel((2000, 341)), BLUE)


def test_a_large_jpeg_is_decoded_at_a_reduced_scale() -> None:
    # 12 MP from a phone: libjpeg decodes at half scale, and the original stays 2016 wide (documented).
    photo = process_photo(encode(band((4032, 3024))), filter_name="normal")
    assert decoded(photo, "original").size == (2016, 1512)
    assert decoded(photo, "standard_resolution").size == (612, 612)
    assert (photo.source_width, photo.source_height) == (4032, 3024)


def test_small_photos_are_upscaled_and_the_original_is_not() -> None:
    photo = process_photo(encode(band((200, 160))), filter_name="normal")
    assert decoded(photo, "standard_resolution").size == (612, 612)
    assert near(decoded(photo, "standard_resolution").getpixel((306, 306)), GREEN)
    assert decoded(photo, "original").size == (200, 160)


@pytest.mark.parametrize("size", [(149, 400), (400, 149), (1, 1)])
def test_photos_smaller_than_a_thumbnail_are_refused(size: tuple[int, int]) -> None:
    message = rejected(encode(band(size), "PNG"))
    assert f"{size[0]}x{size[1]} pixels" in message
    assert "at least 150" in message


def transparent_left(mode: str) -> Image.Image:
    """An image of `mode` whose left half is fully transparent and right half opaque dark."""
    image = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    image.paste((20, 20, 20, 255), (150, 0, 300, 300))
    if mode == "LA":
        return image.convert("LA")
    if mode == "P":
        return image.convert("P", palette=Image.Palette.ADAPTIVE, colors=2)
    return image


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_transparency_is_composited_on_white(mode: str) -> None:
    upload = encode(transparent_left(mode), "PNG")
    assert Image.open(io.BytesIO(upload)).mode == mode
    original = decoded(process_photo(upload, filter_name="normal"), "original")
    assert near(original.getpixel((50, 150)), WHITE, 10)
    assert near(original.getpixel((250, 150)), (20, 20, 20), 10)


@pytest.mark.parametrize(
    ("image", "fmt", "expected"),
    [
        (Image.new("L", (200, 200), 100), "JPEG", (100, 100, 100)),
        (Image.new("L", (200, 200), 100), "PNG", (100, 100, 100)),
        (Image.new("1", (200, 200), 1), "PNG", WHITE),
        (Image.new("I;16", (200, 200), 40000), "PNG", (156, 156, 156)),  # 16-bit, not clipped to white
        (Image.new("CMYK", (200, 200), (0, 255, 255, 0)), "JPEG", RED),
        (Image.new("RGB", (200, 200), GREEN).convert("P", palette=Image.Palette.ADAPTIVE), "PNG", GREEN),
    ],
    ids=["gray-jpeg", "gray-png", "1bit-png", "16bit-png", "cmyk-jpeg", "palette-png"],
)
def test_every_jpeg_and_png_mode_becomes_rgb(
    image: Image.Image, fmt: str, expected: tuple[int, int, int]
) -> None:
    upload = encode(image, fmt)
    assert Image.open(io.BytesIO(upload)).mode == image.mode
    photo = process_photo(upload, filter_name="normal")
    for name in photo.renditions:
        result = decoded(photo, name)
        assert result.mode == "RGB"
        assert near(result.getpixel((result.width // 2, result.height // 2)), expected, 6), name


def test_the_filter_is_applied_to_the_renditions_and_the_original() -> None:
    photo = process_photo(encode(halves((900, 600), RED, BLUE)), filter_name="Inkwell")
    for name in photo.renditions:
        r, g, b = decoded(photo, name).split()
        assert max(abs(x - y) for x, y in zip(r.tobytes(), b.tobytes(), strict=True)) <= 3, name
        assert max(abs(x - y) for x, y in zip(g.tobytes(), b.tobytes(), strict=True)) <= 3, name


@pytest.mark.parametrize("size", [(900, 600), (700, 700)])
def test_the_vignette_belongs_to_each_square_rendition(size: tuple[int, int]) -> None:
    photo = process_photo(encode(Image.new("RGB", size, (128, 128, 128))), filter_name="x-pro-ii")
    for name in photo.renditions:
        image = decoded(photo, name)
        width, height = image.size
        assert gray_at(image, (2, 2)) < 0.7 * gray_at(image, (width // 2, height // 2)), name


def test_an_unknown_filter_is_refused_before_the_photo_is_read() -> None:
    with pytest.raises(UnknownFilter, match="x-pro-ii"):
        process_photo(b"", filter_name="sepia")


# What is refused


def test_an_empty_upload_is_refused() -> None:
    assert rejected(b"") == "the photo is empty"


def test_an_upload_over_12_mb_is_refused_before_reading_it(no_decoding: None) -> None:
    assert rejected(b"\xff\xd8\xff" + b"\x00" * MAX_UPLOAD_BYTES) == "the photo is larger than 12 MB"


@pytest.mark.parametrize("data", [b"hello, this is a text file\n", b"\x00" * 1000, b"BMW is a car maker"])
def test_non_images_are_refused(data: bytes) -> None:
    assert rejected(data) == "the photo is not a JPEG or PNG image"


@pytest.mark.parametrize(
    ("fmt", "named"), [("GIF", "GIF"), ("WEBP", "WebP"), ("BMP", "BMP"), ("TIFF", "TIFF")]
)
def test_other_image_formats_are_refused_by_name(fmt: str, named: str) -> None:
    message = rejected(encode(band((300, 300)), fmt))
    assert message == f"the photo is a {named} image; only JPEG and PNG are accepted"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.99])
def test_truncated_photos_are_refused(fmt: str, keep: float) -> None:
    whole = encode(band((600, 400)), fmt)
    assert rejected(whole[: int(len(whole) * keep)]) == "the photo is truncated or corrupt"


def test_a_jpeg_without_its_end_marker_is_refused() -> None:
    assert rejected(encode(band((600, 400)))[:-2]) == "the photo is truncated or corrupt"


@pytest.mark.parametrize(
    "data", [b"\xff\xd8\xff" + b"garbage" * 100, b"\x89PNG\r\n\x1a\n" + b"garbage" * 100]
)
def test_a_broken_header_is_refused_as_corrupt(data: bytes) -> None:
    assert rejected(data) == "the photo is truncated or corrupt"


def test_a_png_with_a_bad_checksum_is_refused() -> None:
    whole = bytearray(encode(band((300, 300)), "PNG"))
    whole[40] ^= 0xFF  # inside the first IDAT chunk
    assert rejected(bytes(whole)) == "the photo is truncated or corrupt"


def test_a_decompression_bomb_is_refused_from_its_header(no_decoding: None) -> None:
    bomb = png_of_size(20000, 20000)
    assert len(bomb) < 100_000
    assert rejected(bomb) == f"the photo has too many pixels; at most {MAX_PIXELS} pixels and 10000 on a side"


def test_a_photo_past_pillows_warning_threshold_is_refused(no_decoding: None) -> None:
    # Pillow only warns past MAX_IMAGE_PIXELS (and fails past twice that); our header check refuses first.
    assert Image.MAX_IMAGE_PIXELS is not None
    assert Image.MAX_IMAGE_PIXELS < 10000 * 9000 < 2 * Image.MAX_IMAGE_PIXELS
    assert "10000x9000 pixels" in rejected(png_of_size(10000, 9000))


@pytest.mark.parametrize("size", [(8000, 8000), (12000, 200), (200, 12000)])
def test_photos_over_our_limits_are_refused_naming_their_size(
    no_decoding: None, size: tuple[int, int]
) -> None:
    width, height = size
    assert rejected(png_of_size(width, height)) == (
        f"the photo is {width}x{height} pixels; at most {MAX_PIXELS} pixels and 10000 on a side"
    )


def test_photos_at_the_limit_are_accepted() -> None:
    photo = process_photo(png_of_size(10000, 150), filter_name="normal")
    assert (photo.source_width, photo.source_height) == (10000, 150)
    assert decoded(photo, "original").size == (2048, 31)


def test_truncated_photos_are_never_padded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        process_photo(encode(band((300, 300))), filter_name="normal")


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's "Corrupt EXIF data"
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_damaged_uploads_are_refused_or_processed_never_crash(fmt: str) -> None:
    whole = encode(band((300, 200)), fmt)
    rng = random.Random(2011)
    for _ in range(60):
        damaged = bytearray(whole)
        for _ in range(rng.randint(1, 8)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        cut = rng.choice([len(damaged), rng.randrange(len(damaged))])
        try:
            photo = process_photo(bytes(damaged[:cut]), filter_name="lo-fi")
        except ImageRejected:
            continue
        assert decoded(photo, "thumbnail").size == (150, 150)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's "Corrupt EXIF data"
def test_damaged_exif_is_ignored_not_fatal() -> None:
    # Damage in the header region, where the EXIF block (orientation, GPS) lives.
    whole = encode(halves((300, 200), RED, BLUE), exif=gps_exif(orientation=6).tobytes())
    rng = random.Random(1977)
    processed = 0
    for _ in range(100):
        damaged = bytearray(whole)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(2, 200)] = rng.randrange(256)
        try:
            photo = process_photo(bytes(damaged), filter_name="normal")
        except ImageRejected:
            continue
        processed += 1
        assert app_markers(photo.renditions["original"].data) == [0xE0]
    assert processed > 30, "most damage to EXIF leaves a usable photo"


def test_a_multi_picture_jpeg_is_taken_as_its_first_picture() -> None:
    # MPO: what stereo and some phone cameras write; Pillow reads it as a JPEG of several frames.
    second = Image.new("RGB", (400, 300), BLUE)
    upload = encode(band((400, 300)), "MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(upload)).format == "MPO"
    photo = process_photo(upload, filter_name="normal")
    assert photo.source_format == "JPEG"
    assert near(decoded(photo, "original").getpixel((10, 150)), RED)


# Renditions stored as sent: the upload's own JPEG data, when re-encoding could only lose


def noisy(size: tuple[int, int], seed: int = 1) -> Image.Image:
    """A photo-like image (gradient and noise): a re-encode of it never comes out byte-identical."""
    rng = random.Random(seed)
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    noise = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    return Image.blend(image, noise, 0.2)


def pixels(data: bytes) -> bytes:
    image = Image.open(io.BytesIO(data))
    return image.convert("RGB").tobytes()


def test_an_upright_jpeg_up_to_2048_is_stored_as_sent_without_its_metadata() -> None:
    upload = encode(
        noisy((1080, 810)),
        quality=90,
        exif=gps_exif(orientation=1).tobytes(),
        comment=b"taken at home",
        icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
    )
    photo = process_photo(upload + b"trailing bytes", filter_name="normal")
    original = photo.renditions["original"]
    assert (original.width, original.height) == (1080, 810)
    assert pixels(original.data) == pixels(upload), "the original is the upload's own data, not a re-encode"
    assert app_markers(original.data) == [0xE0]
    for metadata in (b"GPS", b"Apple", b"taken at home"):
        assert metadata not in original.data
    assert original.data.endswith(b"\xff\xd9")
    assert len(original.data) < len(upload)
    # The renditions are made from the pixels as before.
    assert decoded(photo, "standard_resolution").size == (612, 612)


def test_a_kept_original_lets_a_large_jpeg_be_decoded_at_half_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    drafts: list[tuple[int, int]] = []
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def recording_draft(self: Any, mode: Any, size: Any) -> Any:
        drafts.append(size)
        return real_draft(self, mode, size)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", recording_draft)
    upload = encode(band((2048, 1536)), quality=80)
    photo = process_photo(upload, filter_name="normal")
    # Only the renditions' 612 square is needed from the pixels: libjpeg decodes at 1/2 (1024x768).
    assert drafts == [(816, 612)]
    assert pixels(photo.renditions["original"].data) == pixels(upload)
    standard = decoded(photo, "standard_resolution")
    assert standard.size == (612, 612)
    assert near(standard.getpixel((306, 306)), GREEN)
    assert near(standard.getpixel((5, 306)), GREEN), "the centred square, not the red margin"


def test_a_progressive_upload_is_stored_as_sent_too() -> None:
    upload = encode(noisy((900, 900)), quality=80, progressive=True, exif=gps_exif(orientation=1).tobytes())
    photo = process_photo(upload, filter_name="normal")
    assert pixels(photo.renditions["original"].data) == pixels(upload)
    assert app_markers(photo.renditions["original"].data) == [0xE0]


def test_a_612_square_from_the_phone_is_the_standard_rendition_as_sent() -> None:
    # Instagram's app resized on the phone and sent 612x612: at quality 85 or less nothing is re-encoded.
    upload = encode(noisy((612, 612)), quality=85)
    photo = process_photo(upload, filter_name="normal")
    assert photo.renditions["standard_resolution"].data == photo.renditions["original"].data
    assert pixels(photo.renditions["standard_resolution"].data) == pixels(upload)
    assert decoded(photo, "low_resolution").size == (306, 306)
    assert decoded(photo, "thumbnail").size == (150, 150)


def test_a_612_square_finer_than_quality_85_is_re_encoded_at_85() -> None:
    upload = encode(noisy((612, 612)), quality=90)
    photo = process_photo(upload, filter_name="normal")
    standard = photo.renditions["standard_resolution"]
    assert pixels(standard.data) != pixels(upload)
    assert len(standard.data) < len(upload)
    assert Image.open(io.BytesIO(standard.data)).info.get("progressive") == 1
    assert pixels(photo.renditions["original"].data) == pixels(upload), "quality 90 is the original's own"


@pytest.mark.parametrize(
    ("why", "upload", "filter_name"),
    [
        ("finer than quality 90", encode(noisy((800, 600)), quality=95), "normal"),
        ("4:4:4 chroma", encode(noisy((800, 600)), quality=80, subsampling=0), "normal"),
        ("a filter to apply", encode(noisy((800, 600)), quality=80), "x-pro-ii"),
        (
            "sideways (EXIF orientation 6)",
            encode(noisy((800, 600)), quality=80, exif=gps_exif(orientation=6).tobytes()),
            "normal",
        ),
        ("larger than 2048", encode(noisy((2400, 1800)), quality=80), "normal"),
        ("grayscale", encode(noisy((800, 600)).convert("L"), quality=80), "normal"),
        ("a PNG", encode(noisy((800, 600)), "PNG"), "normal"),
    ],
)
def test_an_upload_that_cannot_stand_for_the_original_is_re_encoded(
    why: str, upload: bytes, filter_name: str
) -> None:
    photo = process_photo(upload, filter_name=filter_name)
    original = photo.renditions["original"]
    image = Image.open(io.BytesIO(original.data))
    assert image.mode == "RGB", why
    assert pixels(original.data) != pixels(upload), why
    assert app_markers(original.data) == [0xE0], why
