"""Embedding a photo elsewhere, as v1 served it without a token: oEmbed and the media redirect.

- `GET /oembed?url=<permalink>` answers the oEmbed 1.0 "photo" type (the
  JSON v1 returned, not the v1 envelope: oEmbed consumers parse the spec's
  fields at the top level), with `maxwidth`/`maxheight` choosing the largest
  square rendition that fits and `callback` for JSONP. The permalink may name
  this deployment's host or instagr.am / instagram.com, as links of the era
  did. Errors follow the oEmbed spec: 404 for a URL or photo it cannot
  embed, 401 for a private account's photo; a format other than JSON is a
  400 (the spec says 501, but bad input never gets a 5xx here: a 5xx pages
  the operator).
- `GET /p/<shortcode>/media/?size=t|m|l` redirects (302) to the thumbnail,
  low or standard rendition on the CDN (default m), for `<img src>` tags.

Both are anonymous: what they show is what the permalink page shows a
visitor with no session, and a private account's photo gives nothing away.
"""

import json
import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse

from instagram.errors import APINotAllowedError, APINotFoundError
from photos.imaging import RENDITIONS
from photos.refs import media_id_from_shortcode
from photos.selectors import access_media, media_objects
from photos.web import not_found_page
from sharding.ids import InvalidIdError

# The hosts whose /p/<code>/ links name our photos: ours, and the ones links of the era used.
ERA_HOSTS = frozenset({"instagr.am", "www.instagr.am", "instagram.com", "www.instagram.com"})
PERMALINK_PATH = re.compile(r"/p/([A-Za-z0-9_-]{1,32})/?")
CALLBACK = re.compile(r"[A-Za-z_$][\w$]{0,63}(\.[A-Za-z_$][\w$]{0,63}){0,3}")
REDIRECT_SIZES = {"t": "thumbnail", "m": "low_resolution", "l": "standard_resolution"}
MAX_URL_LENGTH = 2000
CACHE_CONTROL = "public, max-age=60"


class EmbedError(Exception):
    """An oEmbed request answered with `status` and a one-line message, as the spec's errors are."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def oembed(request: HttpRequest) -> HttpResponse:
    """GET /oembed: the oEmbed description of the photo `url` names."""
    if request.method not in ("GET", "HEAD"):
        return _error(405, "Only GET is allowed.", headers={"Allow": "GET, HEAD"})
    callback = request.GET.get("callback", "")
    if callback and not CALLBACK.fullmatch(callback):
        return _error(400, "callback must be a JavaScript identifier (letters, digits, _, $ and dots).")
    try:
        body = oembed_description(
            url=request.GET.get("url", ""),
            format=request.GET.get("format", "json"),
            max_width=_bound(request.GET.get("maxwidth", ""), "maxwidth"),
            max_height=_bound(request.GET.get("maxheight", ""), "maxheight"),
        )
    except EmbedError as exc:
        return _error(exc.status, exc.message)
    if callback:
        response = HttpResponse(
            f"/**/{callback}({json.dumps(body)});", content_type="application/javascript; charset=utf-8"
        )
    else:
        response = JsonResponse(body)
    response["Cache-Control"] = CACHE_CONTROL
    response["Access-Control-Allow-Origin"] = "*"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def oembed_description(
    *, url: str, format: str, max_width: int | None, max_height: int | None
) -> dict[str, Any]:
    """Return the oEmbed 1.0 photo description of the permalink `url`, or raise EmbedError."""
    if format not in ("", "json"):
        raise EmbedError(400, "Only format=json is served.")
    media = _visible_media(code=_shortcode_of(url))
    fits = [
        (size, name)
        for name, size in RENDITIONS.items()
        if size <= min(max_width or size, max_height or size)
    ]
    if not fits:
        raise EmbedError(404, f"No rendition fits within {max_width}x{max_height}; the smallest is 150x150.")
    size, name = max(fits)
    thumbnail = media["images"]["thumbnail"]
    user = media["user"]
    return {
        "version": "1.0",
        "type": "photo",
        "provider_name": "Instagram",
        "provider_url": f"{settings.PUBLIC_BASE_URL.rstrip('/')}/",
        "title": media["caption"]["text"] if media["caption"] else "",
        "author_name": user["username"],
        "author_url": f"{settings.PUBLIC_BASE_URL.rstrip('/')}/{user['username']}/",
        "author_id": int(user["id"]),
        "media_id": media["id"],
        "url": media["images"][name]["url"],
        "width": size,
        "height": size,
        "thumbnail_url": thumbnail["url"],
        "thumbnail_width": thumbnail["width"],
        "thumbnail_height": thumbnail["height"],
        "cache_age": 60,
    }


def media_redirect(request: HttpRequest, code: str) -> HttpResponse:
    """GET /p/<code>/media/?size=t|m|l: a redirect to that rendition of the photo on the CDN."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    size = request.GET.get("size", "m")
    if size not in REDIRECT_SIZES:
        return HttpResponse(
            "size must be t (150x150), m (306x306) or l (612x612).\n",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    try:
        media = _visible_media(code=code)
    except EmbedError:
        return not_found_page()
    response = HttpResponseRedirect(media["images"][REDIRECT_SIZES[size]]["url"])
    response["Cache-Control"] = CACHE_CONTROL
    return response


def _shortcode_of(url: str) -> str:
    """Return the shortcode in a permalink URL of ours or of the era's hosts, or raise EmbedError(404)."""
    if not url:
        raise EmbedError(400, "Missing required parameter: url.")
    if len(url) > MAX_URL_LENGTH:
        raise EmbedError(404, "No URL match: url is too long to be a photo's permalink.")
    parts = urlsplit(url.strip() if "://" in url else f"http://{url.strip()}")
    host = (parts.hostname or "").lower()
    ours = (urlsplit(settings.PUBLIC_BASE_URL).hostname or "").lower()
    match = PERMALINK_PATH.fullmatch(parts.path)
    if host not in ERA_HOSTS | {ours} or match is None:
        raise EmbedError(404, "No URL match: url must be a photo's permalink, /p/<shortcode>/.")
    return match.group(1)


def _visible_media(*, code: str) -> dict[str, Any]:
    """Return the v1 media object `code` names, as an anonymous visitor sees it, or raise EmbedError."""
    try:
        card = access_media(viewer=None, ref=str(media_id_from_shortcode(code)))
    except (APINotFoundError, InvalidIdError):
        raise EmbedError(404, "No media match.") from None
    except APINotAllowedError:
        raise EmbedError(401, "This photo is a private account's.") from None
    found = media_objects(viewer=None, cards=[card])
    if not found:  # the owner went away between the two reads
        raise EmbedError(404, "No media match.")
    return found[0]


def _bound(raw: str, name: str) -> int | None:
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6):
        raise EmbedError(400, f"{name} must be a positive number of pixels.")
    return int(raw) or None


def _error(status: int, message: str, *, headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(
        f"{message}\n", status=status, content_type="text/plain; charset=utf-8", headers=headers or {}
    )
