"""The permalink page /p/<shortcode>/, end to end through nginx: HTML, OpenGraph, privacy, and in Chromium."""

import io
import random
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings
from PIL import Image, ImageChops
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from photos.refs import shortcode
from tests.browser import SCALE, WORDS, chromium, ocr
from tests.conftest import Stack
from tests.photos.images import jpeg

MAGENTA = (230, 30, 160)
SORRY = "Sorry, this page isn't available."


class Page(HTMLParser):
    """The parts of an HTML page the tests look at: meta tags, links, images, every attribute value."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.meta: dict[str, str] = {}
        self.links: list[tuple[str, str]] = []  # (href, text)
        self.images: list[dict[str, str]] = []
        self.attribute_values: list[str] = []
        self._href: str | None = None
        self._text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.attribute_values.extend(values.values())
        if tag == "meta" and "content" in values:
            self.meta[values.get("property") or values.get("name") or ""] = values["content"]
        elif tag == "img":
            self.images.append(values)
        elif tag == "a":
            self._href, self._text = values.get("href"), []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text)))
            self._href = None


def media_id(media: dict[str, Any]) -> int:
    return int(media["id"].partition("_")[0])


def page_url(stack: Stack, media: dict[str, Any]) -> str:
    return f"{stack.api}/p/{shortcode(media_id(media))}/"


def get_page(stack: Stack, media: dict[str, Any]) -> requests.Response:
    response = requests.get(page_url(stack, media), timeout=15)
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    return response


def test_page_shows_the_photo_owner_caption_likes_and_comments(signup: Any, healthy_stack: Stack) -> None:
    kevin, fan = signup("kevin"), signup("fan")
    caption = f"Pier at dusk #sunset #Café with @{fan.username.upper()}"
    media = kevin.post_photo(jpeg(), caption=caption, lat="37.7749", lng="-122.4194", location_name="Pier 39")
    assert fan.post(f"media/{media['id']}/likes").status_code == 200
    comment = fan.post(f"media/{media['id']}/comments", text="Lovely light #goldenhour")
    assert comment.status_code == 200, comment.text

    response = get_page(healthy_stack, media)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=60"
    assert "Cookie" not in response.headers.get("Vary", "")
    assert "Set-Cookie" not in response.headers
    html = response.text
    page = Page(html)
    assert kevin.username in html
    assert '<a href="/explore/tags/sunset/">#sunset</a>' in html
    assert ("/explore/tags/caf%C3%A9/", "#Café") in page.links  # the normalized name, the author's spelling
    assert (f"/{fan.username}/", f"@{fan.username.upper()}") in page.links
    assert ("/explore/tags/goldenhour/", "#goldenhour") in page.links  # comments are linked too
    assert ">1 like<" in html
    assert "Lovely light" in html
    # The caption, v1's first comment, is shown once above the comments, not as one of them.
    assert ">1 comment<" in html
    assert html.count('<li class="comment">') == 1
    assert "Pier 39" in html
    [photo] = page.images
    assert photo["width"] == photo["height"] == "612"

    # Everything the page says about the photo is what the API says.
    seen = kevin.data(f"media/{media['id']}")
    image = seen["images"]["standard_resolution"]
    assert photo["src"] == image["url"]
    assert page.meta["og:image"] == image["url"] == media["images"]["standard_resolution"]["url"]
    assert page.meta["twitter:image"] == image["url"]
    assert page.meta["og:image:width"] == page.meta["og:image:height"] == "612"
    assert page.meta["og:title"] == page.meta["twitter:title"] == f"{kevin.username} on Instagram"
    assert page.meta["og:description"] == caption
    assert page.meta["og:url"] == seen["link"]
    assert seen["link"] == f"{settings.PUBLIC_BASE_URL.rstrip('/')}/p/{shortcode(media_id(media))}/"
    assert page.meta["og:type"] == "article"
    assert page.meta["twitter:card"] == "summary_large_image"

    assert fan.post(f"media/{media['id']}/likes").status_code == 200  # idempotent: still one like
    other = signup("other")
    assert other.post(f"media/{media['id']}/likes").status_code == 200
    assert ">2 likes<" in get_page(healthy_stack, media).text


def test_caption_markup_is_escaped_everywhere(signup: Any, healthy_stack: Stack) -> None:
    kevin = signup("kevin")
    caption = "<script>alert(1)</script> #x \"><img src=y onerror=alert(2)> 'quoted' & more"
    media = kevin.post_photo(jpeg(300, 300), caption=caption)
    comment = kevin.post(f"media/{media['id']}/comments", text="<b>bold</b> @<i>")
    assert comment.status_code == 200, comment.text

    html = get_page(healthy_stack, media).text
    assert "<script" not in html
    assert "<img src=y" not in html
    assert "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<a href="/explore/tags/x/">#x</a>' in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    page = Page(html)
    assert page.meta["og:description"] == caption  # escaped in the attribute, intact once parsed
    assert len(page.images) == 1
    response = requests.get(page_url(healthy_stack, media), timeout=15)
    assert "script-src" not in response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_private_accounts_page_names_the_owner_and_shows_nothing_of_the_photo(
    signup: Any, healthy_stack: Stack
) -> None:
    carol = signup("carol", private=True)
    media = carol.post_photo(jpeg(), caption="Secret garden #moonflower")
    assert carol.post(f"media/{media['id']}/comments", text="only for friends").status_code == 200

    response = get_page(healthy_stack, media)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    html = response.text
    assert "This account is private" in html
    assert carol.username in html
    for secret in ("Secret garden", "moonflower", "only for friends"):
        assert secret not in html
    for rendition in media["images"].values():
        assert rendition["url"] not in html
    assert media["images"]["standard_resolution"]["url"].rsplit("/", 2)[-2] not in html  # the object prefix
    page = Page(html)
    assert page.images == []
    assert "og:image" not in page.meta
    assert "og:description" not in page.meta
    assert "twitter:image" not in page.meta


def test_a_photo_leaves_the_web_when_its_account_goes_private(signup: Any, healthy_stack: Stack) -> None:
    kevin = signup("kevin")
    media = kevin.post_photo(jpeg(300, 300), caption="Was public")
    assert "Was public" in get_page(healthy_stack, media).text
    assert kevin.post("accounts/edit", is_private="true").status_code == 200
    html = get_page(healthy_stack, media).text
    assert "This account is private" in html
    assert "Was public" not in html
    assert media["images"]["standard_resolution"]["url"] not in html


@pytest.mark.parametrize(
    "code",
    [
        "AAAAAAAAAAA",  # a well-formed shortcode no media has
        "AAAAAAAAAAAA",  # one digit too many
        "A" * 4000,
        "zzz",  # decodes to an id whose shard bits name no shard
        "_____________",
        "AB!C",
        "%F0%9F%8C%85",  # an emoji
        "caf%C3%A9",
        "%3Cscript%3E",
    ],
)
def test_unknown_and_malformed_shortcodes_are_a_plain_html_404(healthy_stack: Stack, code: str) -> None:
    response = requests.get(f"{healthy_stack.api}/p/{code}/", timeout=15)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert SORRY in response.text
    assert "<script>" not in response.text


def test_a_deleted_photo_is_a_404(signup: Any, healthy_stack: Stack) -> None:
    kevin = signup("kevin")
    media = kevin.post_photo(jpeg(300, 300), caption="Gone soon")
    assert get_page(healthy_stack, media).status_code == 200
    assert kevin.delete(f"media/{media['id']}").status_code == 200
    response = get_page(healthy_stack, media)
    assert response.status_code == 404
    assert SORRY in response.text
    assert "Gone soon" not in response.text


def test_only_get_and_head(signup: Any, healthy_stack: Stack) -> None:
    media = signup("kevin").post_photo(jpeg(300, 300))
    url = page_url(healthy_stack, media)
    head = requests.head(url, timeout=15)
    assert head.status_code == 200
    assert head.content == b""
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        response = requests.request(method, url, timeout=15)
        assert response.status_code == 405, method
        assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    # Tall enough for the photo and the caption under it in the first screen.
    with chromium(profile=tmp_path / "chromium-profile", window=(1000, 1200)) as driver:
        yield driver


TOLERANCE = 16  # per channel: JPEG and the browser's scaling move colors a little


def close(pixel: tuple[int, int, int], color: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= TOLERANCE for a, b in zip(pixel, color, strict=True))


def pixel_at(image: Image.Image, x: int, y: int) -> tuple[int, int, int]:
    value = image.getpixel((x, y))
    assert isinstance(value, tuple)
    return (value[0], value[1], value[2])


def count_close(image: Image.Image, color: tuple[int, int, int]) -> int:
    """Count the pixels of the RGB `image` within TOLERANCE of `color` in every channel.

    Per-band masks combined by Pillow, in C: a Python loop over the 3.6
    million pixels of a screenshot takes seconds.
    """
    masks = [
        band.point(lambda value, target=target: 255 if abs(value - target) <= TOLERANCE else 0)
        for band, target in zip(image.split(), color, strict=True)
    ]
    both = ImageChops.multiply(ImageChops.multiply(masks[0], masks[1]), masks[2])
    return both.histogram()[255]


def test_the_photo_and_caption_are_what_a_person_sees_in_chromium(
    signup: Any, healthy_stack: Stack, browser: WebDriver, tmp_path: Path
) -> None:
    words = random.sample(WORDS, 2)
    kevin = signup("kevin")
    media = kevin.post_photo(jpeg(1080, 1080, color=MAGENTA), caption=" ".join(words), filter="normal")

    browser.get(page_url(healthy_stack, media))
    WebDriverWait(browser, 20).until(
        lambda driver: driver.execute_script(
            "return document.images[0].complete && document.images[0].naturalWidth === 612"
        )
    )
    box = browser.execute_script(
        "const r = document.images[0].getBoundingClientRect();"
        "return [r.left, r.top, r.width, r.height, window.innerHeight];"
    )
    left, top, width, height, viewport = (round(value * SCALE) for value in box)
    assert width == height == 612 * SCALE
    assert top + height <= viewport, "the whole photo is in the first screen"

    shot = tmp_path / "permalink.png"
    assert browser.save_screenshot(str(shot))
    screenshot = Image.open(io.BytesIO(shot.read_bytes())).convert("RGB")
    # jpeg(): magenta with a half-bright square over the middle half, so the
    # border ring (3/4 of the photo) is magenta.
    ring = 3 * width * height // 4
    magenta = count_close(screenshot, MAGENTA)
    assert magenta >= ring * 0.9, (magenta, ring, shot)
    assert magenta <= ring * 1.1, "nothing but the photo is magenta"
    assert close(pixel_at(screenshot, left + width // 8, top + height // 8), MAGENTA)
    dark = (MAGENTA[0] // 2, MAGENTA[1] // 2, MAGENTA[2] // 2)
    assert close(pixel_at(screenshot, left + width // 2, top + height // 2), dark)

    seen = ocr(shot)
    for word in words:
        assert word.upper() in seen, (word, seen, shot)
    assert "0 LIKES" in seen, (seen, shot)
