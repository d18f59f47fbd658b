"""The payload of the push job (push.handlers)."""

from dataclasses import dataclass

from workers import functions
from workers.jobs import JobPayload


@dataclass(frozen=True, kw_only=True)
class PushNotification(JobPayload):
    """Tell `recipient_id`'s phones that `actor_id` did `kind` (push.notifications.KINDS).

    `media_id` is the media's v1 id as text (`<id>_<owner>`) or a bare id;
    `comment_id` says a mention was made in a comment, not a caption;
    `event` is the event's stable id (a news entry's), absent in older payloads.
    """

    function = functions.PUSH

    recipient_id: int
    kind: str
    actor_id: int
    media_id: str | int | None = None
    comment_text: str | None = None
    comment_id: int | None = None
    event: str | None = None
