"""oEmbed and the media redirect, anonymous, through nginx: what an embedding site of the era called."""

import json
from typing import Any

import pytest
import requests
from django.conf import settings

from photos.refs import shortcode
from tests.conftest import Stack
from tests.photos.images import jpeg


def code_of(media: dict[str, Any]) -> str:
    return shortcode(int(media["id"].partition("_")[0]))


def oembed(stack: Stack, **params: str) -> requests.Response:
    return requests.get(f"{stack.api}/oembed", params=params, timeout=15)


def test_oembed_describes_a_public_photo(signup: Any, healthy_stack: Stack) -> None:
    kevin = signup("kevin")
    media = kevin.post_photo(jpeg(), caption="Pier at dusk #sunset")
    for url in (media["link"], f"http://instagr.am/p/{code_of(media)}/", f"instagram.com/p/{code_of(media)}"):
        response = oembed(healthy_stack, url=url)
        assert response.status_code == 200, (url, response.text)
        assert response.headers["Content-Type"] == "application/json"
        body = response.json()
        assert body["version"] == "1.0"
        assert body["type"] == "photo"
        assert body["provider_name"] == "Instagram"
        assert body["title"] == "Pier at dusk #sunset"
        assert body["author_name"] == kevin.username
        assert body["author_id"] == int(kevin.id)
        assert body["media_id"] == media["id"]
        assert (body["url"], body["width"], body["height"]) == (
            media["images"]["standard_resolution"]["url"],
            612,
            612,
        )
        assert body["thumbnail_url"] == media["images"]["thumbnail"]["url"]
    image = requests.get(body["url"], timeout=15)
    assert (image.status_code, image.headers["Content-Type"]) == (200, "image/jpeg")


def test_oembed_picks_the_largest_rendition_within_maxwidth_and_maxheight(
    signup: Any, healthy_stack: Stack
) -> None:
    media = signup("kevin").post_photo(jpeg())
    sizes = {
        ("400", ""): 306,
        ("", "200"): 150,
        ("612", "1000"): 612,
        ("0", ""): 612,  # 0: no bound, as oEmbed consumers send it
    }
    for (max_width, max_height), size in sizes.items():
        params = {k: v for k, v in {"maxwidth": max_width, "maxheight": max_height}.items() if v}
        body = oembed(healthy_stack, url=media["link"], **params).json()
        assert (body["width"], body["height"]) == (size, size)
        assert (
            body["url"]
            == media["images"][{150: "thumbnail", 306: "low_resolution", 612: "standard_resolution"}[size]][
                "url"
            ]
        )
    too_small = oembed(healthy_stack, url=media["link"], maxwidth="100")
    assert too_small.status_code == 404
    assert "smallest is 150x150" in too_small.text


def test_oembed_jsonp_wraps_the_description(signup: Any, healthy_stack: Stack) -> None:
    media = signup("kevin").post_photo(jpeg())
    response = oembed(healthy_stack, url=media["link"], callback="window.embeds.got")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/javascript; charset=utf-8"
    body = response.text
    assert body.startswith("/**/window.embeds.got(")
    assert body.endswith(");")
    assert json.loads(body[len("/**/window.embeds.got(") : -2])["media_id"] == media["id"]
    bad = oembed(healthy_stack, url=media["link"], callback="alert(1)//")
    assert bad.status_code == 400
    assert "alert" not in bad.text


def test_oembed_gives_nothing_of_a_private_account(signup: Any, healthy_stack: Stack) -> None:
    carol = signup("carol", private=True)
    media = carol.post_photo(jpeg(), caption="secret caption")
    response = oembed(healthy_stack, url=media["link"])
    assert response.status_code == 401
    assert "secret" not in response.text
    assert "http" not in response.text


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({}, 400),
        ({"url": "http://example.com/p/BUG/"}, 404),  # not a host of ours or of the era
        ({"url": "http://instagr.am/explore/tags/x/"}, 404),
        ({"url": "http://instagr.am/p/zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz/"}, 404),
        ({"url": "http://instagr.am/p/" + "9" * 5000 + "/"}, 404),
        ({"url": "http://instagr.am/p/BUG/", "format": "xml"}, 400),
        ({"url": "http://instagr.am/p/BUG/", "maxwidth": "9" * 4301}, 400),
    ],
)
def test_oembed_errors_are_the_specs_plain_text(
    healthy_stack: Stack, params: dict[str, str], status: int
) -> None:
    response = oembed(healthy_stack, **params)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "Traceback" not in response.text


def test_media_redirect_points_at_each_rendition(signup: Any, healthy_stack: Stack) -> None:
    media = signup("kevin").post_photo(jpeg())
    page = f"{healthy_stack.api}/p/{code_of(media)}/media/"
    for size, name in {
        "t": "thumbnail",
        "m": "low_resolution",
        "l": "standard_resolution",
        "": "low_resolution",
    }.items():
        response = requests.get(
            page, params={"size": size} if size else {}, allow_redirects=False, timeout=15
        )
        assert response.status_code == 302
        assert response.headers["Location"] == media["images"][name]["url"]
        assert response.headers["Location"].startswith(settings.CDN_URL)
    followed = requests.get(page, params={"size": "t"}, timeout=15)
    assert (followed.status_code, followed.headers["Content-Type"]) == (200, "image/jpeg")
    assert requests.get(page, params={"size": "xl"}, allow_redirects=False, timeout=15).status_code == 400


def test_media_redirect_of_a_private_or_unknown_photo_is_the_404_page(
    signup: Any, healthy_stack: Stack
) -> None:
    media = signup("carol", private=True).post_photo(jpeg())
    for code in (code_of(media), "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", "BUG"):
        response = requests.get(f"{healthy_stack.api}/p/{code}/media/", allow_redirects=False, timeout=15)
        assert response.status_code == 404
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "Location" not in response.headers
