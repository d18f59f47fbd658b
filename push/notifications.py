"""What a push says: the kinds, their alert texts as the 2011 app wrote them, and the APNS payload.

Pure functions of their arguments, so they are tested without a stack.
"""

import json
import re
from typing import Any

from push.models import Audience

LIKE = "like"
COMMENT = "comment"
FOLLOW = "follow"
FOLLOW_REQUEST = "follow_request"
MENTION = "mention"

# Each kind of push and the push setting (a PushSettings field) that governs it.
SETTING_OF_KIND = {
    LIKE: "likes",
    COMMENT: "comments",
    FOLLOW: "follows",
    FOLLOW_REQUEST: "follow_requests",
    MENTION: "mentions",
}
KINDS = tuple(SETTING_OF_KIND)
SETTINGS = tuple(SETTING_OF_KIND.values())
# The kinds that are about a media, and must name it.
MEDIA_KINDS = frozenset({LIKE, COMMENT, MENTION})

# A comment quoted in an alert is cut to this many characters: the lock screen
# shows about two lines, and the payload must stay under Apple's 4 KB.
MAX_QUOTE = 100
MAX_PAYLOAD_BYTES = 4096
ELLIPSIS = "…"
_SPACES = re.compile(r"\s+")


def quote(text: str, *, limit: int = MAX_QUOTE) -> str:
    """Return `text` on one line, cut at a word boundary to at most `limit` characters with an ellipsis."""
    line = _SPACES.sub(" ", text).strip()
    if len(line) <= limit:
        return line
    cut = line[: limit - len(ELLIPSIS)]
    word_end = cut.rfind(" ")
    if word_end > limit // 2:
        cut = cut[:word_end]
    return cut.rstrip() + ELLIPSIS


def alert_text(*, kind: str, username: str, comment_text: str | None = None, in_comment: bool = False) -> str:
    """Return the alert the app showed for `kind` from `username` ("kevin liked your photo.").

    A mention quotes the text it was made in; only a job that says it was a
    comment (`in_comment`) says "in a comment", as a caption can mention too.
    """
    quoted = quote(comment_text or "")
    if kind == LIKE:
        return f"{username} liked your photo."
    if kind == COMMENT:
        return f"{username} commented: {quoted}" if quoted else f"{username} commented on your photo."
    if kind == FOLLOW:
        return f"{username} started following you."
    if kind == FOLLOW_REQUEST:
        return f"{username} requested to follow you."
    if kind == MENTION:
        if not quoted:
            return f"{username} mentioned you."
        return (
            f"{username} mentioned you in a comment: {quoted}"
            if in_comment
            else f"{username} mentioned you: {quoted}"
        )
    raise ValueError(f"unknown kind of push {kind!r}")


def payload(*, kind: str, alert: str, actor_id: int, media_ref: str | None) -> dict[str, Any]:
    """Return the APNS payload: `aps` and the keys the app opens the right screen with."""
    body: dict[str, Any] = {
        "aps": {"alert": alert, "sound": "default"},
        "kind": kind,
        "user_id": str(actor_id),
    }
    if media_ref is not None:
        body["media_id"] = media_ref
    size = len(json.dumps(body, ensure_ascii=False).encode())
    if size > MAX_PAYLOAD_BYTES:
        raise ValueError(f"push payload of {size} bytes is over Apple's {MAX_PAYLOAD_BYTES}")
    return body


def audience_allows(*, audience: str, recipient_follows_actor: bool) -> bool:
    """Say whether a user who chose `audience` for a kind of push gets one from this actor."""
    if audience == Audience.EVERYONE:
        return True
    if audience == Audience.FOLLOWING:
        return recipient_follows_actor
    return False
