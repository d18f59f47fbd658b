"""HTTP clients for the Twitter and Facebook APIs, and the text each post carries.

Each client makes one POST with short timeouts and sorts the answer into
three outcomes: the remote id of the new post; ShareRejected (a 4xx: a
revoked token, a refused post; retrying cannot help); ShareUnavailable (a
5xx, a timeout, no connection: worth retrying). Tokens never appear in an
exception's message or in a log line.
"""

import unicodedata
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings
from requests_oauthlib import OAuth1

TIMEOUT = (3.05, 10.0)  # seconds to connect, to read the answer: a worker waits no longer
TWEET_LENGTH = 140  # characters, as Twitter counted them in 2011 (after NFC)
ELLIPSIS = "…"
MAX_ERROR = 200  # characters of a remote error message kept on the media


class ShareError(Exception):
    """The post did not happen; the message says why, for the media's share results."""


class ShareRejected(ShareError):
    """The service refused the post (4xx): retrying the same request cannot help."""


class ShareUnavailable(ShareError):
    """The service could not be reached or failed (5xx, timeout): a later attempt may succeed."""


@dataclass(frozen=True)
class Post:
    """What a shared photo says: its caption, its permalink and its image's URL."""

    caption: str
    link: str
    image_url: str


def tweet_text(post: Post) -> str:
    """Return the status for `post`: the caption, trimmed to fit, then the permalink."""
    link = post.link
    caption = " ".join(unicodedata.normalize("NFC", post.caption).split())
    room = TWEET_LENGTH - len(link) - 1  # a space between the caption and the link
    if not caption or room <= len(ELLIPSIS):
        return link
    if len(caption) > room:
        cut = caption[: room - len(ELLIPSIS)]
        # End on a whole word when one ends close enough to the cut.
        space = cut.rfind(" ")
        if space >= len(cut) - 15 and space > 0:
            cut = cut[:space]
        caption = cut.rstrip() + ELLIPSIS
    return f"{caption} {link}"


def facebook_message(post: Post) -> str:
    """Return the message of the Facebook photo: the caption and the permalink on a line of its own."""
    return f"{post.caption}\n{post.link}" if post.caption else post.link


def post_tweet(*, post: Post, token: str, token_secret: str) -> str:
    """Post `post` as the user of `token` (OAuth 1.0a, HMAC-SHA1); return the tweet's id."""
    auth = OAuth1(
        settings.TWITTER_CONSUMER_KEY,
        client_secret=settings.TWITTER_CONSUMER_SECRET,
        resource_owner_key=token,
        resource_owner_secret=token_secret,
        signature_type="AUTH_HEADER",
    )
    answer = _post(
        "Twitter", f"{settings.TWITTER_API_URL}/1.1/statuses/update.json", {"status": tweet_text(post)}, auth
    )
    return str(answer.get("id_str") or answer.get("id") or "")


def post_facebook_photo(*, post: Post, token: str) -> str:
    """Post `post`'s photo to the user's Facebook timeline (Graph API /me/photos); return the photo's id."""
    fields = {"url": post.image_url, "message": facebook_message(post), "access_token": token}
    answer = _post("Facebook", f"{settings.FACEBOOK_API_URL}/me/photos", fields, None)
    return str(answer.get("id") or "")


def _post(service: str, url: str, fields: dict[str, str], auth: OAuth1 | None) -> dict[str, Any]:
    try:
        response = requests.post(url, data=fields, auth=auth, timeout=TIMEOUT)
    except requests.Timeout:
        raise ShareUnavailable(f"{service} did not answer within {TIMEOUT[1]:.0f} s") from None
    except requests.RequestException as exc:
        # The exception's text names the URL only (the token travels in the body or a header).
        raise ShareUnavailable(f"{service} unreachable: {type(exc).__name__}") from None
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if response.status_code >= 500:
        raise ShareUnavailable(f"{service} answered {response.status_code}: {_message(body)}")
    if response.status_code >= 400:
        raise ShareRejected(f"{service} refused the post ({response.status_code}): {_message(body)}")
    if not isinstance(body, dict):
        # A 2xx is a post made: without an id to keep, rather than made twice.
        return {}
    return body


def _message(body: Any) -> str:
    """Return the error message in a Twitter (`errors: [...]`) or Graph (`error: {...}`) answer."""
    message = "no error message"
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            message = f"{errors[0].get('message', '')} (code {errors[0].get('code', '?')})"
        elif isinstance(body.get("error"), dict):
            error = body["error"]
            message = f"{error.get('message', '')} ({error.get('type', '')} code {error.get('code', '?')})"
    return message[:MAX_ERROR]
