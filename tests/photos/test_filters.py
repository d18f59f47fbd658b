"""The 2011 filters: each keeps the photo's size, and changes it the way its name promises."""

import pytest
from PIL import Image, ImageChops, ImageStat

from photos.filters import FILTERS, UnknownFilter, apply_filter, filter_display_name, parse_filter

V1_NAMES = {
    "normal": "Normal",
    "x-pro-ii": "X-Pro II",
    "lo-fi": "Lo-fi",
    "earlybird": "Earlybird",
    "toaster": "Toaster",
    "inkwell": "Inkwell",
    "nashville": "Nashville",
    "1977": "1977",
    "hefe": "Hefe",
    "sutro": "Sutro",
    "walden": "Walden",
    "valencia": "Valencia",
    "amaro": "Amaro",
    "rise": "Rise",
    "hudson": "Hudson",
    "lord-kelvin": "Lord Kelvin",
    "brannan": "Brannan",
    "sierra": "Sierra",
}

# What each look is known for, as a user would describe it; each trait is checked below.
TRAITS = {
    "x-pro-ii": {"vignette", "saturate", "cross-processed"},
    "lo-fi": {"vignette", "saturate", "contrast"},
    "earlybird": {"vignette", "warm", "desaturate", "faded"},
    "toaster": {"vignette", "warm"},
    "inkwell": {"gray"},
    "nashville": {"warm", "desaturate", "faded"},
    "1977": {"warm", "faded"},
    "hefe": {"vignette", "warm", "saturate"},
    "sutro": {"vignette", "desaturate", "darker"},
    "walden": {"warm", "desaturate", "faded"},
    "valencia": {"warm", "faded"},
    "amaro": {"vignette", "cool", "faded"},
    "rise": {"warm", "desaturate", "faded"},
    "hudson": {"vignette", "cool"},
    "lord-kelvin": {"vignette", "warm", "saturate", "faded"},
    "brannan": {"warm", "contrast", "faded"},
    "sierra": {"vignette", "desaturate", "faded"},
}
VIGNETTED = {slug for slug, traits in TRAITS.items() if "vignette" in traits}


def ramp() -> Image.Image:
    """A neutral gray ramp, black to white, left to right."""
    return Image.linear_gradient("L").rotate(90).resize((256, 64)).convert("RGB")


def colourful() -> Image.Image:
    """A non-square image of saturated colours: red across, green down, blue from the centre."""
    red = Image.linear_gradient("L").rotate(90)
    green = Image.linear_gradient("L")
    blue = Image.radial_gradient("L")
    return Image.merge("RGB", (red, green, blue)).resize((240, 180))


def flat(size: tuple[int, int] = (240, 180)) -> Image.Image:
    return Image.new("RGB", size, (128, 128, 128))


def mean(image: Image.Image) -> list[float]:
    return ImageStat.Stat(image).mean


def saturation(image: Image.Image) -> float:
    return ImageStat.Stat(image.convert("HSV")).mean[1]


def luma_spread(image: Image.Image) -> float:
    return ImageStat.Stat(image.convert("L")).stddev[0]


def brightness(image: Image.Image, xy: tuple[int, int]) -> float:
    return float(sum(image.getpixel(xy))) / 3  # type: ignore[arg-type]


def test_the_v1_filters_are_registered_under_their_slugs() -> None:
    assert set(FILTERS) == set(V1_NAMES)
    assert next(iter(FILTERS)) == "normal"


@pytest.mark.parametrize("slug", FILTERS)
def test_a_filter_keeps_size_and_mode(slug: str) -> None:
    image = colourful()
    result = apply_filter(image, slug)
    assert (result.size, result.mode) == ((240, 180), "RGB")
    assert image.tobytes() == colourful().tobytes(), "the input was modified"


def test_normal_is_the_identity() -> None:
    image = colourful()
    assert apply_filter(image, "normal").tobytes() == image.tobytes()


@pytest.mark.parametrize("slug", [slug for slug in FILTERS if slug != "normal"])
def test_every_other_filter_visibly_changes_the_photo(slug: str) -> None:
    difference = ImageChops.difference(apply_filter(colourful(), slug), colourful())
    assert max(mean(difference)) > 8, f"{slug} barely changes the photo"


@pytest.mark.parametrize("slug", [slug for slug in FILTERS if slug != "normal"])
def test_every_filter_has_its_character_described(slug: str) -> None:
    assert TRAITS[slug], "describe what the filter does, so that it is tested"


def test_inkwell_is_black_and_white() -> None:
    result = apply_filter(colourful(), "inkwell")
    r, g, b = result.split()
    assert r.tobytes() == g.tobytes() == b.tobytes()
    assert luma_spread(result) > 20, "a gray image, not a flat one"


@pytest.mark.parametrize("slug", sorted(VIGNETTED))
def test_vignette_darkens_the_corners_of_a_flat_photo(slug: str) -> None:
    result = apply_filter(flat(), slug)
    centre = brightness(result, (120, 90))
    for corner in [(0, 0), (239, 0), (0, 179), (239, 179)]:
        assert brightness(result, corner) < 0.9 * centre


@pytest.mark.parametrize("slug", sorted(set(FILTERS) - VIGNETTED))
def test_filters_without_vignette_keep_a_flat_photo_flat(slug: str) -> None:
    result = apply_filter(flat(), slug)
    assert result.getextrema() == tuple((value, value) for value in result.getpixel((120, 90)))  # type: ignore[union-attr]


def test_the_vignette_follows_the_frame_of_any_size() -> None:
    for size in [(150, 150), (612, 612), (300, 100)]:
        result = apply_filter(flat(size), "x-pro-ii")
        width, height = size
        assert brightness(result, (0, 0)) < 0.7 * brightness(result, (width // 2, height // 2))


def traits_of(trait: str) -> list[str]:
    return sorted(slug for slug, traits in TRAITS.items() if trait in traits)


@pytest.mark.parametrize("slug", traits_of("warm"))
def test_warm_filters_turn_neutral_gray_toward_red(slug: str) -> None:
    red, _, blue = mean(apply_filter(ramp(), slug))
    assert red - blue > 8


@pytest.mark.parametrize("slug", traits_of("cool"))
def test_cool_filters_turn_neutral_gray_toward_blue(slug: str) -> None:
    red, _, blue = mean(apply_filter(ramp(), slug))
    assert blue - red > 5


@pytest.mark.parametrize("slug", traits_of("saturate"))
def test_saturating_filters_make_colours_stronger(slug: str) -> None:
    assert saturation(apply_filter(colourful(), slug)) > 1.05 * saturation(colourful())


@pytest.mark.parametrize("slug", traits_of("desaturate"))
def test_desaturating_filters_make_colours_weaker(slug: str) -> None:
    assert saturation(apply_filter(colourful(), slug)) < 0.9 * saturation(colourful())


@pytest.mark.parametrize("slug", traits_of("contrast"))
def test_contrast_filters_spread_the_tones(slug: str) -> None:
    assert luma_spread(apply_filter(ramp(), slug)) > 1.05 * luma_spread(ramp())


@pytest.mark.parametrize("slug", traits_of("faded"))
def test_faded_filters_lift_the_blacks(slug: str) -> None:
    black = apply_filter(Image.new("RGB", (200, 200)), slug)
    assert max(black.getpixel((100, 100))) >= 20  # type: ignore[arg-type]


@pytest.mark.parametrize("slug", traits_of("darker"))
def test_darkening_filters_lower_the_mean(slug: str) -> None:
    assert sum(mean(apply_filter(ramp(), slug))) < 0.9 * sum(mean(ramp()))


def test_x_pro_ii_cross_processes_blue_shadows_and_yellow_highlights() -> None:
    result = apply_filter(ramp(), "x-pro-ii")
    shadow_r, _, shadow_b = result.getpixel((30, 32))  # type: ignore[misc]
    light_r, light_g, light_b = result.getpixel((225, 32))  # type: ignore[misc]
    assert shadow_b > shadow_r + 10
    assert min(light_r, light_g) > light_b + 10


@pytest.mark.parametrize(("slug", "name"), V1_NAMES.items())
def test_display_names_round_trip(slug: str, name: str) -> None:
    assert filter_display_name(slug) == name
    assert parse_filter(name) == slug
    assert parse_filter(slug) == slug


@pytest.mark.parametrize(
    ("value", "slug"),
    [("X-PRO-II", "x-pro-ii"), ("x-pro ii", "x-pro-ii"), ("LO-FI", "lo-fi"), ("lord kelvin", "lord-kelvin")],
)
def test_names_are_accepted_in_any_case(value: str, slug: str) -> None:
    assert parse_filter(value) == slug
    assert apply_filter(flat(), value).tobytes() == FILTERS[slug](flat()).tobytes()


@pytest.mark.parametrize("value", ["sepia", "", "x-pro-iii", "Gotham"])
def test_unknown_filters_are_refused_naming_the_allowed_ones(value: str) -> None:
    with pytest.raises(UnknownFilter) as caught:
        apply_filter(flat(), value)
    assert isinstance(caught.value, ValueError)
    assert repr(value) in str(caught.value)
    for slug in FILTERS:
        assert slug in str(caught.value)
    with pytest.raises(UnknownFilter):
        filter_display_name(value)


def test_filters_refuse_non_rgb_images() -> None:
    with pytest.raises(ValueError, match="RGB"):
        apply_filter(Image.new("RGBA", (10, 10)), "lo-fi")
