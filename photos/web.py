"""The permalink page `/p/<shortcode>/`: one photo as the web (and link unfurlers) see it.

Decisions, and why:

- The page is anonymous: it is rendered for `viewer=None` whatever session
  the browser carries, as instagr.am's web pages were in 2011 (the web had
  no log-in). So it never varies by visitor, never touches the session
  (no `Vary: Cookie`), and a public photo's page is cacheable by anyone for
  a minute (`public, max-age=60`); a like or comment shows within that.
- It is built from the v1 media object (`media_objects`), not from the card,
  so the page, its OpenGraph tags and the API agree on every URL, count and
  name.
- A private account's photo answers 200 with "This account is private" and
  the owner's username, the page Instagram showed, and nothing of the photo:
  no image URL, caption, comments or counts anywhere in the HTML, and
  `private, no-store` so no shared cache keeps it. A link shared before the
  account went private can stay in a cache for at most a minute.
- A missing media, a shortcode that cannot name one (too long, outside the
  alphabet) or a deactivated owner answers a plain HTML 404, never the v1
  JSON envelope and never a 500. It is cached for a minute like a photo's
  page: a shortcode is learned only once its media has committed, and ids
  are never reused, so a 404 does not turn into a photo.
- Captions and comments are cut into pieces by `photos.text.split_entities`
  and rendered by the template with autoescaping on: no markup is built in
  Python, so no `mark_safe` can let a caption's `<script>` through. The page
  carries no JavaScript at all, and its Content-Security-Policy says so.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.template.loader import render_to_string

from instagram.errors import APINotAllowedError, APINotFoundError
from photos.cache import media_cards
from photos.refs import media_id_from_shortcode
from photos.selectors import access_media, media_objects
from photos.text import normalize_tag, split_entities
from sharding.ids import InvalidIdError
from users.cache import profile

PUBLIC_CACHE = "public, max-age=60"
PRIVATE_CACHE = "private, no-store"
METHODS = ("GET", "HEAD")


@dataclass(frozen=True)
class Piece:
    """A run of caption or comment text; `href` set when it is a tag or mention to link."""

    text: str
    href: str | None


def permalink(request: HttpRequest, code: str) -> HttpResponse:
    """GET /p/<code>/: the photo's page, the private-account page, or a 404 page."""
    if request.method not in METHODS:
        return HttpResponseNotAllowed(METHODS)
    try:
        media_id = media_id_from_shortcode(code)
        card = access_media(viewer=None, ref=str(media_id))
    except (APINotFoundError, InvalidIdError):
        # InvalidIdError: a shortcode decoding to an id whose shard bits name
        # no shard of this deployment (`zzz`); photos.refs lets those through.
        return not_found_page()
    except APINotAllowedError:
        return private_page(media_id=media_id)
    found = media_objects(viewer=None, cards=[card])
    if not found:  # the owner went away between the two reads
        return not_found_page()
    return photo_page(media=found[0])


def photo_page(*, media: dict[str, Any]) -> HttpResponse:
    """Render the page of a v1 media object the anonymous visitor may see."""
    image = media["images"]["standard_resolution"]
    caption = media["caption"]["text"] if media["caption"] else ""
    # v1 lists and counts the caption as the owner's first comment; the page shows it once, above.
    caption_id = media["caption"]["id"] if media["caption"] else None
    comments = [comment for comment in media["comments"]["data"] if comment["id"] != caption_id]
    context = {
        "media": media,
        "user": media["user"],
        "image": image,
        "caption": caption,
        "caption_pieces": linked_pieces(text=caption),
        "comment_count": media["comments"]["count"] - (1 if caption_id else 0),
        "comments": [
            {"from": comment["from"], "pieces": linked_pieces(text=comment["text"])} for comment in comments
        ],
        "created": datetime.fromtimestamp(int(media["created_time"]), tz=UTC),
    }
    return _html(
        template="photos/permalink.html",
        context=context,
        status=200,
        cache_control=PUBLIC_CACHE,
        images=_origin(image["url"]),
    )


def private_page(*, media_id: int) -> HttpResponse:
    """Render "This account is private" with the owner's username and nothing of the photo.

    The card is read again only for its owner's id: access_media says the
    media is private but not whose it is.
    """
    card = media_cards([media_id]).get(media_id)
    owner = profile(card.user_id) if card is not None else None
    if owner is None:
        return not_found_page()
    return _html(
        template="photos/private.html",
        context={"username": owner.username, "full_name": owner.full_name},
        status=200,
        cache_control=PRIVATE_CACHE,
    )


def not_found_page() -> HttpResponse:
    """Render the plain 404 page; it echoes nothing of the request."""
    return _html(template="photos/not_found.html", context={}, status=404, cache_control=PUBLIC_CACHE)


def linked_pieces(*, text: str) -> list[Piece]:
    """Cut `text` into plain runs and links: tags to /explore/tags/<name>/, mentions to /<username>/.

    Links use the normalized tag name and the lower-cased username (the
    spellings the indexes and profile URLs use), percent-encoded since tag
    names may be in any script; the label keeps the author's spelling.
    """
    pieces = []
    for kind, piece in split_entities(text):
        href = None
        if kind == "tag":
            href = f"/explore/tags/{quote(normalize_tag(piece[1:]), safe='')}/"
        elif kind == "mention":
            href = f"/{quote(piece[1:].lower(), safe='')}/"
        pieces.append(Piece(text=piece, href=href))
    return pieces


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _html(
    *, template: str, context: dict[str, Any], status: int, cache_control: str, images: str | None = None
) -> HttpResponse:
    """Render `template` without the request (no context processors: nothing per visitor) with its headers.

    The Content-Security-Policy allows no script at all, styles only inline
    (the page's one <style>) and images only from `images` (the CDN), so
    even a markup bug in a template could not run a caption's script.
    """
    body = render_to_string(template, context)
    response = HttpResponse(body, status=status, content_type="text/html; charset=utf-8")
    response["Cache-Control"] = cache_control
    image_sources = images or "'none'"
    response["Content-Security-Policy"] = (
        f"default-src 'none'; img-src {image_sources}; style-src 'unsafe-inline'; "
        "base-uri 'none'; form-action 'none'"
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response
