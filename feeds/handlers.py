"""Workers' side of the events the web processes submit: fan-out, news, and the jobs they lead to.

Each handler re-reads what it needs by id, returns quietly when the row is
gone, and is idempotent (see feeds.actions and feeds.news): gearmand may
hand a job out again after a worker died, and failures are retried.
"""

import logging
import time
from dataclasses import replace

from feeds import news, store
from feeds.actions import (
    do_add_news,
    do_backfill_feed,
    do_fan_out_chunk,
    do_fan_out_news,
    do_fan_out_news_chunk,
    do_fan_out_post,
    do_remove_chunk,
    do_remove_owner_from_feed,
    do_remove_post,
)
from feeds.jobs import (
    Commented,
    FeedFanout,
    FeedRemove,
    MediaDeleted,
    MediaLiked,
    MediaPosted,
    Mentioned,
    NewsFanout,
    RelationshipChanged,
)
from feeds.news import NewsEntry
from monitoring.stats import fanout_finished
from photos.models import Comment, Media
from push.jobs import PushNotification
from relationships.models import Kind
from sharding.routing import shard_for_id
from sharing.jobs import ShareMedia
from subscriptions.jobs import SubscriptionsMatch
from workers.jobs import JobContext, job_handler
from workers.submit import submit_job_on_commit

logger = logging.getLogger(__name__)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _media(media_id: int) -> Media | None:
    with shard_for_id(media_id, read_only=False):
        return Media.objects.filter(id=media_id).first()


def _push(job: PushNotification) -> None:
    if job.recipient_id != job.actor_id:
        submit_job_on_commit(job)


# --------------------------------------------------------------------- posts


@job_handler(MediaPosted)
def media_posted(job: MediaPosted, ctx: JobContext) -> None:
    """Fan the post out, then hand sharing and subscriptions to their own jobs."""
    media = _media(job.media_id)
    if media is None:
        logger.info("media %s is gone; nothing to fan out", job.media_id)
        fanout_finished(media_id=job.media_id)
        return
    do_fan_out_post(media_id=media.id, owner_id=media.user_id)
    for service in media.share_targets:
        submit_job_on_commit(ShareMedia(media_id=media.id, service=service))
    submit_job_on_commit(SubscriptionsMatch(media_id=media.id, user_id=media.user_id))


@job_handler(FeedFanout)
def feed_fanout(job: FeedFanout, ctx: JobContext) -> None:
    do_fan_out_chunk(
        media_id=job.media_id, owner_id=job.owner_id, after_edge=job.after_edge, last_edge=job.last_edge
    )


@job_handler(MediaDeleted)
def media_deleted(job: MediaDeleted, ctx: JobContext) -> None:
    do_remove_post(media_id=job.media_id, owner_id=job.user_id)


@job_handler(FeedRemove)
def feed_remove(job: FeedRemove, ctx: JobContext) -> None:
    do_remove_chunk(
        media_ids=list(job.media_ids),
        owner_id=job.owner_id,
        after_edge=job.after_edge,
        last_edge=job.last_edge,
    )


# ---------------------------------------------------------- likes, comments


@job_handler(MediaLiked)
def media_liked(job: MediaLiked, ctx: JobContext) -> None:
    media_id, liker, owner = job.media_id, job.user_id, job.owner_id
    entry = NewsEntry(id=f"like:{media_id}:{liker}", type=news.LIKE, actor_id=liker, media_id=media_id)
    # The like's own id tells a retry of this job (one push) from a like after an unlike (a new one).
    event = f"like:{media_id}:{liker}:{job.like_id}" if job.like_id is not None else entry.id
    at = _now_ms()
    if owner != liker:
        do_add_news(user_ids=[owner], tab=news.YOU, entry=entry, at_ms=at)
        _push(
            PushNotification(
                recipient_id=owner, kind="like", actor_id=liker, media_id=str(media_id), event=event
            )
        )
    do_fan_out_news(actor_id=liker, entry=replace(entry, owner_id=owner), at_ms=at)


@job_handler(Commented)
def commented(job: Commented, ctx: JobContext) -> None:
    media_id, comment_id, author, owner = job.media_id, job.comment_id, job.user_id, job.owner_id
    with shard_for_id(media_id):
        text = Comment.objects.filter(id=comment_id).values_list("text", flat=True).first()
    if text is None:
        return  # deleted before the job ran
    entry = NewsEntry(
        id=f"comment:{comment_id}",
        type=news.COMMENT,
        actor_id=author,
        media_id=media_id,
        comment_id=comment_id,
        text=text[:300],
    )
    at = _now_ms()
    if owner != author:
        do_add_news(user_ids=[owner], tab=news.YOU, entry=entry, at_ms=at)
        _push(
            PushNotification(
                recipient_id=owner,
                kind="comment",
                actor_id=author,
                media_id=str(media_id),
                comment_text=text,
                event=entry.id,
            )
        )
    do_fan_out_news(actor_id=author, entry=replace(entry, owner_id=owner), at_ms=at)


@job_handler(Mentioned)
def mentioned(job: Mentioned, ctx: JobContext) -> None:
    media_id, actor, comment_id = job.media_id, job.actor_id, job.comment_id
    text = ""
    with shard_for_id(media_id):
        if comment_id is not None:
            text = Comment.objects.filter(id=comment_id).values_list("text", flat=True).first() or ""
        else:
            text = Media.objects.filter(id=media_id).values_list("caption", flat=True).first() or ""
    entry = NewsEntry(
        id=f"mention:{media_id}:{comment_id or 0}",
        type=news.MENTION,
        actor_id=actor,
        media_id=media_id,
        text=text[:300],
        comment_id=comment_id,
    )
    recipients = [u for u in job.user_ids if u != actor]
    do_add_news(user_ids=recipients, tab=news.YOU, entry=entry, at_ms=_now_ms())
    for user_id in recipients:
        _push(
            PushNotification(
                recipient_id=user_id,
                kind="mention",
                actor_id=actor,
                media_id=str(media_id),
                comment_text=text,
                event=entry.id,
                comment_id=comment_id,
            )
        )


@job_handler(NewsFanout)
def news_fanout(job: NewsFanout, ctx: JobContext) -> None:
    do_fan_out_news_chunk(
        actor_id=job.actor_id,
        entry=job.entry,
        at_ms=job.at_ms,
        after_edge=job.after_edge,
        last_edge=job.last_edge,
    )


# ------------------------------------------------------------- relationships


@job_handler(RelationshipChanged)
def relationship_changed(job: RelationshipChanged, ctx: JobContext) -> None:
    """Feeds follow the follows; news and pushes tell the people concerned.

    `before` and `after` are the edge kinds the actor holds towards the
    target (relationships.transitions), so FOLLOWS is "actor follows
    target" and FOLLOWED_BY "target follows actor".
    """
    actor, target = job.actor_id, job.target_id
    # Again after the request's own forget_followed: a feed read racing the change may have kept
    # the follows it read before the commit.
    store.forget_followed(actor, target)  # raises on Redis trouble: the job is retried
    before = {Kind(k) for k in job.before}
    after = {Kind(k) for k in job.after}
    gained, lost = after - before, before - after
    at = job.at_ms or _now_ms()
    for follower, followee, kind in ((actor, target, Kind.FOLLOWS), (target, actor, Kind.FOLLOWED_BY)):
        if kind in gained:
            do_backfill_feed(follower_id=follower, followee_id=followee)
            entry = NewsEntry(id=f"follow:{follower}:{followee}", type=news.FOLLOW, actor_id=follower)
            do_add_news(user_ids=[followee], tab=news.YOU, entry=entry, at_ms=at)
            _push(PushNotification(recipient_id=followee, kind="follow", actor_id=follower))
            do_fan_out_news(actor_id=follower, entry=replace(entry, target_id=followee), at_ms=at)
        if kind in lost:
            do_remove_owner_from_feed(follower_id=follower, owner_id=followee)
    if Kind.REQUESTED in gained:
        entry = NewsEntry(id=f"request:{actor}:{target}", type=news.FOLLOW_REQUEST, actor_id=actor)
        do_add_news(user_ids=[target], tab=news.YOU, entry=entry, at_ms=at)
        _push(PushNotification(recipient_id=target, kind="follow_request", actor_id=actor))
    if Kind.REQUESTED in lost or Kind.REQUESTED_BY in lost:
        requester, asked = (actor, target) if Kind.REQUESTED in lost else (target, actor)
        news.remove_matching(user_id=asked, tab=news.YOU, event_id=f"request:{requester}:{asked}")
