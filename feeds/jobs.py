"""The payloads of the jobs feeds serves (feeds.handlers): media and relationship events, their chunks.

One frozen dataclass per job name, encoded and decoded by workers.jobs. The
fields are the keys the wire has carried since v1 of each name, so a job
queued by an older release decodes.
"""

from dataclasses import dataclass

from feeds.news import NewsEntry
from workers import functions
from workers.jobs import JobPayload


@dataclass(frozen=True, kw_only=True)
class MediaPosted(JobPayload):
    """`user_id` posted `media_id`: fan-out, then sharing and subscriptions."""

    function = functions.MEDIA_POSTED

    media_id: int
    user_id: int


@dataclass(frozen=True, kw_only=True)
class MediaDeleted(JobPayload):
    """`user_id`'s `media_id` is gone: out of every feed."""

    function = functions.MEDIA_DELETED

    media_id: int
    user_id: int


@dataclass(frozen=True, kw_only=True)
class MediaLiked(JobPayload):
    """`user_id` liked `owner_id`'s `media_id`: news and a push.

    `like_id`, the like row's id, tells a retry (one push) from a like after
    an unlike (a new push); older payloads lack it.
    """

    function = functions.MEDIA_LIKED

    media_id: int
    user_id: int
    owner_id: int
    like_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class Commented(JobPayload):
    """`user_id` wrote `comment_id` on `owner_id`'s `media_id`: news and a push."""

    function = functions.COMMENTED

    media_id: int
    comment_id: int
    user_id: int
    owner_id: int


@dataclass(frozen=True, kw_only=True)
class Mentioned(JobPayload):
    """`actor_id` named `user_ids` in a caption of `media_id` (or in `comment_id`): news and pushes."""

    function = functions.MENTIONED

    media_id: int
    actor_id: int
    user_ids: tuple[int, ...]
    comment_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class RelationshipChanged(JobPayload):
    """The edges `actor_id` holds towards `target_id` went from `before` to `after` (Kind values)."""

    function = functions.RELATIONSHIP_CHANGED

    actor_id: int
    target_id: int
    action: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    # When the change was made (epoch ms): its news entries are dated by it, not by
    # when a worker ran the job (three follows in a row stay in order). None in a
    # job queued by a release before this field.
    at_ms: int | None = None


@dataclass(frozen=True, kw_only=True)
class FeedFanout(JobPayload):
    """Put `media_id` in the feeds of `owner_id`'s followers of one chunk (after_edge, last_edge]."""

    function = functions.FEED_FANOUT

    media_id: int
    owner_id: int
    after_edge: int
    last_edge: int


@dataclass(frozen=True, kw_only=True)
class FeedRemove(JobPayload):
    """Take `media_ids` out of the feeds of `owner_id`'s followers of one chunk."""

    function = functions.FEED_REMOVE

    media_ids: tuple[int, ...]
    owner_id: int
    after_edge: int
    last_edge: int


@dataclass(frozen=True, kw_only=True)
class NewsFanout(JobPayload):
    """Put `entry` at `at_ms` in the "following" news of `actor_id`'s followers of one chunk."""

    function = functions.NEWS_FANOUT

    actor_id: int
    entry: NewsEntry
    at_ms: int
    after_edge: int
    last_edge: int
