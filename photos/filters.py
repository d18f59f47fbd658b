"""Instagram's 2011 filters, applied on the server with Pillow.

Each filter is a pure function from an RGB image to a new RGB image of the
same size, registered in `FILTERS` under the slug of the name v1 showed in
`media.filter` ("X-Pro II" -> "x-pro-ii"). The looks are recreations: the
original recipes ran on the phone and were never published, so the curves
below follow the character everyone remembers (X-Pro II's cross-processed
yellow highlights and blue shadows, Earlybird's faded sepia, Toaster's burnt
orange edges...), not pixel-exact output.

Speed decides the building blocks. A filter runs once per upload on up to a
2048-pixel image, so every look is at most three whole-image passes:

- an optional colour matrix (`Image.convert("RGB", matrix)`) for saturation,
  the only step that mixes channels;
- one 768-entry lookup table (`Image.point`) holding the per-channel tone
  curves. Contrast, brightness and flat colour overlays are per-channel maps
  too (blending with a solid colour is `x*(1-a) + c*a`), so they are folded
  into the same table at import instead of costing `ImageEnhance` or
  `Image.blend` passes of their own;
- an optional vignette: the image is composited over a darker (and possibly
  tinted) copy of itself through a radial mask cached per image size.
"""

import math
from bisect import bisect_right
from collections.abc import Callable
from functools import lru_cache
from itertools import pairwise

from PIL import Image

Tone = Callable[[float], float]
"""A tone curve: maps a channel value in [0, 1] to a new value in [0, 1]."""

# Rec. 601 luma, the weights Pillow itself uses to convert RGB to L.
_LUMA = (0.299, 0.587, 0.114)

# The vignette is computed on a small grid, then resized to each image size:
# its falloff is smooth enough that bicubic interpolation loses nothing visible.
_VIGNETTE_GRID = 64


class UnknownFilter(ValueError):
    """The filter name is not one of `FILTERS`; str(exc) lists the accepted names."""


def _identity(x: float) -> float:
    return x


def _spline(*points: tuple[int, int]) -> Tone:
    """Return the smooth monotone curve through `points` given in 0-255 units, like an editor's curves.

    Monotone cubic (Fritsch-Carlson) interpolation, so the curve never
    overshoots between control points and tones never swap order.
    """
    xs = [x / 255 for x, _ in points]
    ys = [y / 255 for _, y in points]
    slopes = [(y1 - y0) / (x1 - x0) for (x0, y0), (x1, y1) in pairwise(zip(xs, ys, strict=True))]
    # A point's tangent is its neighbouring slopes' mean, flat at a local peak or dip.
    inner = ((a + b) / 2 if a * b > 0 else 0.0 for a, b in pairwise(slopes))
    tangents = [slopes[0], *inner, slopes[-1]]
    for i, slope in enumerate(slopes):
        if slope == 0:
            tangents[i] = tangents[i + 1] = 0.0
            continue
        a, b = tangents[i] / slope, tangents[i + 1] / slope
        if (norm := a * a + b * b) > 9:
            scale = 3 / math.sqrt(norm)
            tangents[i], tangents[i + 1] = scale * a * slope, scale * b * slope

    def curve(x: float) -> float:
        if x <= xs[0]:
            return ys[0]
        if x >= xs[-1]:
            return ys[-1]
        i = bisect_right(xs, x) - 1
        h = xs[i + 1] - xs[i]
        t = (x - xs[i]) / h
        t2, t3 = t * t, t * t * t
        return (
            (2 * t3 - 3 * t2 + 1) * ys[i]
            + (t3 - 2 * t2 + t) * h * tangents[i]
            + (-2 * t3 + 3 * t2) * ys[i + 1]
            + (t3 - t2) * h * tangents[i + 1]
        )

    return curve


def _then(first: Tone, second: Tone) -> Tone:
    """Return the curve that applies `first`, then `second`."""
    return lambda x: second(first(x))


def _times(factor: float) -> Tone:
    """Return the curve that multiplies by `factor`, as a multiply-blend with a flat colour does."""
    return lambda x: x * factor


def _samples(tone: Tone) -> list[int]:
    """Sample `tone` at the 256 levels of an 8-bit channel."""
    return [min(255, max(0, round(tone(i / 255) * 255))) for i in range(256)]


def _table(*, red: Tone, green: Tone, blue: Tone) -> list[int]:
    """Return the 768-entry table `Image.point` takes for RGB: one curve per channel."""
    return _samples(red) + _samples(green) + _samples(blue)


def _saturation_matrix(amount: float) -> tuple[float, ...]:
    """Return the RGB->RGB matrix that scales saturation by `amount` around luma (0 = gray)."""
    rows: list[float] = []
    for channel in range(3):
        row = [(1 - amount) * weight for weight in _LUMA]
        row[channel] += amount
        rows += [*row, 0.0]
    return tuple(rows)


class _Look:
    """One filter's recipe, with its lookup tables computed once, when the module loads.

    `tone` applies to every channel before the per-channel curves. The
    vignette blends the frame's edges toward the image multiplied by
    `edge_color` (black darkens, a brown tint burns), reaching `vignette`
    of the way there in the corners.
    """

    def __init__(
        self,
        *,
        saturation: float = 1.0,
        tone: Tone = _identity,
        red: Tone = _identity,
        green: Tone = _identity,
        blue: Tone = _identity,
        vignette: float = 0.0,
        edge_color: tuple[float, float, float] = (0.0, 0.0, 0.0),
    ) -> None:
        self.saturation = saturation
        # The falloff (0 at the centre, 255 in the corners) -> the mask that keeps the pixel where 255.
        self.mask_table = [round(255 * (1 - vignette * i / 255)) for i in range(256)] if vignette else []
        self.table = _table(red=_then(tone, red), green=_then(tone, green), blue=_then(tone, blue))
        r, g, b = edge_color
        self.edge_table = _table(red=_times(r), green=_times(g), blue=_times(b))

    def __call__(self, image: Image.Image) -> Image.Image:
        if self.saturation != 1.0:
            image = image.convert("RGB", _saturation_matrix(self.saturation))
        image = image.point(self.table)
        if self.mask_table:
            # Paste the image over its own edge-toned copy through the mask: a composite
            # without the copy Image.composite would make.
            edges = image.point(self.edge_table)
            edges.paste(image, mask=_falloff(image.size).point(self.mask_table))
            image = edges
        return image


@lru_cache(maxsize=1)
def _falloff_grid() -> Image.Image:
    """Return the vignette's shape on a small square grid: 0 within half the way to the corners,
    then rising smoothly (smoothstep) to 255 in the corners."""
    grid = Image.new("L", (_VIGNETTE_GRID, _VIGNETTE_GRID))
    centre = (_VIGNETTE_GRID - 1) / 2
    corner = math.hypot(centre, centre)
    values = []
    for y in range(_VIGNETTE_GRID):
        for x in range(_VIGNETTE_GRID):
            t = min(1.0, max(0.0, (math.hypot(x - centre, y - centre) / corner - 0.5) / 0.5))
            values.append(round(255 * t * t * (3 - 2 * t)))
    grid.putdata(values)
    return grid


@lru_cache(maxsize=8)
def _falloff(size: tuple[int, int]) -> Image.Image:
    """Return the vignette's shape stretched to `size` (an ellipse on non-square frames).

    Cached per size, not per look: uploads come in a handful of sizes (the
    612 square, phone camera frames), and eight masks of at most 2048x2048
    bound the cache at 32 MB. Callers must not modify the returned image.
    """
    return _falloff_grid().resize(size, Image.Resampling.BICUBIC)


# The looks. Curves are (input, output) points in 0-255, as in an editor's curves dialog.
_X_PRO_II = _Look(
    saturation=1.2,
    red=_spline((0, 0), (56, 38), (128, 140), (200, 232), (255, 255)),
    green=_spline((0, 0), (60, 45), (128, 135), (200, 222), (255, 255)),
    blue=_spline((0, 32), (128, 128), (255, 205)),
    vignette=0.6,
)
_LO_FI = _Look(
    saturation=1.35,
    tone=_spline((0, 0), (64, 38), (128, 128), (192, 220), (255, 255)),
    vignette=0.35,
)
_EARLYBIRD = _Look(
    saturation=0.65,
    red=_spline((0, 35), (128, 152), (255, 245)),
    green=_spline((0, 22), (128, 126), (255, 228)),
    blue=_spline((0, 12), (128, 98), (255, 196)),
    vignette=0.45,
    edge_color=(0.62, 0.48, 0.36),
)
_TOASTER = _Look(
    saturation=1.1,
    red=_spline((0, 45), (128, 172), (255, 255)),
    green=_spline((0, 8), (128, 118), (255, 238)),
    blue=_spline((0, 0), (128, 92), (255, 205)),
    vignette=0.55,
    edge_color=(0.7, 0.35, 0.25),
)
_INKWELL_TABLE = _samples(_spline((0, 8), (64, 52), (128, 132), (192, 212), (255, 252)))
_NASHVILLE = _Look(
    saturation=0.9,
    tone=_spline((0, 0), (128, 140), (255, 255)),
    red=_spline((0, 32), (128, 152), (255, 250)),
    green=_spline((0, 15), (128, 124), (255, 232)),
    blue=_spline((0, 72), (128, 138), (255, 205)),
)
_1977 = _Look(
    saturation=1.1,
    red=_spline((0, 42), (128, 168), (255, 255)),
    green=_spline((0, 22), (128, 120), (255, 234)),
    blue=_spline((0, 38), (128, 128), (255, 232)),
)
_HEFE = _Look(
    saturation=1.3,
    tone=_spline((0, 0), (64, 45), (128, 128), (192, 212), (255, 255)),
    red=_spline((0, 8), (128, 140), (255, 255)),
    blue=_spline((0, 0), (128, 112), (255, 228)),
    vignette=0.45,
)
_SUTRO = _Look(
    saturation=0.7,
    tone=_spline((0, 0), (128, 106), (255, 232)),
    red=_spline((0, 10), (128, 132), (255, 250)),
    green=_spline((0, 0), (128, 120), (255, 238)),
    blue=_spline((0, 14), (128, 126), (255, 236)),
    vignette=0.6,
    edge_color=(0.5, 0.38, 0.45),
)
_WALDEN = _Look(
    saturation=0.85,
    red=_spline((0, 40), (128, 156), (255, 255)),
    green=_spline((0, 36), (128, 150), (255, 250)),
    blue=_spline((0, 62), (128, 138), (255, 200)),
)
_VALENCIA = _Look(
    saturation=0.95,
    tone=_spline((0, 0), (64, 58), (192, 202), (255, 255)),
    red=_spline((0, 30), (128, 148), (255, 250)),
    green=_spline((0, 20), (128, 130), (255, 240)),
    blue=_spline((0, 30), (128, 114), (255, 214)),
)
_AMARO = _Look(
    saturation=1.05,
    red=_spline((0, 24), (128, 150), (255, 255)),
    green=_spline((0, 24), (128, 152), (255, 255)),
    blue=_spline((0, 50), (128, 160), (255, 240)),
    vignette=0.25,
)
_RISE = _Look(
    saturation=0.9,
    red=_spline((0, 36), (128, 156), (255, 255)),
    green=_spline((0, 26), (128, 146), (255, 250)),
    blue=_spline((0, 20), (128, 124), (255, 228)),
)
_HUDSON = _Look(
    saturation=0.9,
    red=_spline((0, 0), (128, 118), (255, 232)),
    green=_spline((0, 10), (128, 136), (255, 250)),
    blue=_spline((0, 32), (128, 162), (255, 255)),
    vignette=0.4,
)
_LORD_KELVIN = _Look(
    saturation=1.2,
    red=_spline((0, 50), (128, 190), (255, 255)),
    green=_spline((0, 20), (128, 142), (255, 240)),
    blue=_spline((0, 0), (128, 80), (255, 180)),
    vignette=0.2,
)
_BRANNAN = _Look(
    saturation=0.7,
    tone=_spline((0, 0), (64, 34), (128, 128), (192, 228), (255, 255)),
    red=_spline((0, 34), (128, 138), (255, 245)),
    green=_spline((0, 12), (128, 136), (255, 240)),
    blue=_spline((0, 24), (128, 114), (255, 204)),
)
_SIERRA = _Look(
    saturation=0.85,
    tone=_spline((0, 40), (128, 140), (255, 232)),
    red=_spline((0, 6), (128, 134), (255, 255)),
    blue=_spline((0, 0), (128, 122), (255, 245)),
    vignette=0.35,
)


def normal(image: Image.Image) -> Image.Image:
    """Return the photo as taken. The same object comes back: no filter costs no copy."""
    return image


def x_pro_ii(image: Image.Image) -> Image.Image:
    """Cross-process: hard contrast, saturated, yellow highlights over blue shadows, a deep vignette."""
    return _X_PRO_II(image)


def lo_fi(image: Image.Image) -> Image.Image:
    """Punch up saturation and contrast into deep shadows, with a light vignette."""
    return _LO_FI(image)


def earlybird(image: Image.Image) -> Image.Image:
    """Fade to a warm, desaturated sepia with lifted blacks and brown-burnt edges."""
    return _EARLYBIRD(image)


def toaster(image: Image.Image) -> Image.Image:
    """Wash the frame in orange-red with a bright centre and burnt edges."""
    return _TOASTER(image)


def inkwell(image: Image.Image) -> Image.Image:
    """Render in black and white with a gentle contrast curve."""
    return image.convert("L").point(_INKWELL_TABLE).convert("RGB")


def nashville(image: Image.Image) -> Image.Image:
    """Tint highlights peach-pink and lift the shadows toward navy, low contrast."""
    return _NASHVILLE(image)


def seventy_seven(image: Image.Image) -> Image.Image:
    """Fade to a rosy, brightened print with lifted shadows ("1977")."""
    return _1977(image)


def hefe(image: Image.Image) -> Image.Image:
    """Warm, saturated and contrasty, with a vignette."""
    return _HEFE(image)


def sutro(image: Image.Image) -> Image.Image:
    """Darken and desaturate, with heavy purple-brown burnt edges."""
    return _SUTRO(image)


def walden(image: Image.Image) -> Image.Image:
    """Wash out toward pale yellow, with blue-lifted shadows."""
    return _WALDEN(image)


def valencia(image: Image.Image) -> Image.Image:
    """Fade warmly like an old print, with a touch of contrast."""
    return _VALENCIA(image)


def amaro(image: Image.Image) -> Image.Image:
    """Brighten and lift the shadows with a cool cast and a soft vignette."""
    return _AMARO(image)


def rise(image: Image.Image) -> Image.Image:
    """Give a soft, warm glow with low contrast."""
    return _RISE(image)


def hudson(image: Image.Image) -> Image.Image:
    """Cool everything toward icy blue, with a vignette."""
    return _HUDSON(image)


def lord_kelvin(image: Image.Image) -> Image.Image:
    """Saturate into strong orange and yellow with lifted reds."""
    return _LORD_KELVIN(image)


def brannan(image: Image.Image) -> Image.Image:
    """Desaturate with high contrast and a metallic yellow-green cast."""
    return _BRANNAN(image)


def sierra(image: Image.Image) -> Image.Image:
    """Fade softly with lifted blacks, dimmed whites and a vignette."""
    return _SIERRA(image)


# slug -> (the name v1 showed in media.filter, the filter). "normal" first, then the app's order.
_REGISTRY: dict[str, tuple[str, Callable[[Image.Image], Image.Image]]] = {
    "normal": ("Normal", normal),
    "x-pro-ii": ("X-Pro II", x_pro_ii),
    "lo-fi": ("Lo-fi", lo_fi),
    "earlybird": ("Earlybird", earlybird),
    "toaster": ("Toaster", toaster),
    "inkwell": ("Inkwell", inkwell),
    "nashville": ("Nashville", nashville),
    "1977": ("1977", seventy_seven),
    "hefe": ("Hefe", hefe),
    "sutro": ("Sutro", sutro),
    "walden": ("Walden", walden),
    "valencia": ("Valencia", valencia),
    "amaro": ("Amaro", amaro),
    "rise": ("Rise", rise),
    "hudson": ("Hudson", hudson),
    "lord-kelvin": ("Lord Kelvin", lord_kelvin),
    "brannan": ("Brannan", brannan),
    "sierra": ("Sierra", sierra),
}

FILTERS: dict[str, Callable[[Image.Image], Image.Image]] = {slug: f for slug, (_, f) in _REGISTRY.items()}


def _key(value: str) -> str:
    # Slugs and display names differ only in case and punctuation: "X-Pro II" and "x-pro-ii" -> "xproii".
    return "".join(ch for ch in value.casefold() if ch.isalnum())


_BY_KEY = {_key(name): slug for slug, (name, _) in _REGISTRY.items()} | {
    _key(slug): slug for slug in _REGISTRY
}


def parse_filter(value: str) -> str:
    """Return the slug `value` names: a slug or a v1 display name, in any case ("X-Pro II", "x-pro-ii").

    Raise UnknownFilter listing the accepted slugs otherwise.
    """
    slug = _BY_KEY.get(_key(value))
    if slug is None:
        raise UnknownFilter(f"unknown filter {value!r}; use one of: {', '.join(FILTERS)}")
    return slug


def filter_display_name(slug: str) -> str:
    """Return the name v1 showed in media.filter for `slug` ("x-pro-ii" -> "X-Pro II")."""
    return _REGISTRY[parse_filter(slug)][0]


def apply_filter(image: Image.Image, name: str) -> Image.Image:
    """Return `image` (RGB) with the filter `name` (slug or display name) applied; same size and mode.

    Raise UnknownFilter for a name not in FILTERS, and ValueError for a
    non-RGB image (convert it first: the looks are defined on RGB). The
    result may be `image` itself (for "normal"): do not modify it in place.
    """
    slug = parse_filter(name)
    if image.mode != "RGB":
        raise ValueError(f"filters apply to RGB images, not {image.mode}")
    return FILTERS[slug](image)
