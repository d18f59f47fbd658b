"""Workers' side of the events the web processes submit: fan-out, news, and the jobs they lead to.

Each handler re-reads what it needs by id, returns quietly when the row is
gone, and is idempotent (see feeds.actions and feeds.news): gearmand may
hand a job out again after a worker died, and failures are retried.
"""

import logging
import time
from dataclasses import replace
from typing import Any

from feeds import news
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
from feeds.news import NewsEntry
from monitoring.stats import fanout_finished
from photos.models import Comment, Media
from relationships.models import Kind
from sharding.routing import shard_for_id
from workers import functions
from workers.jobs import JobArgs, JobContext, job_handler
from workers.submit import submit_job_on_commit

logger = logging.getLogger(__name__)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _media(media_id: int) -> Media | None:
    with shard_for_id(media_id, read_only=False):
        return Media.objects.filter(id=media_id).first()


def _push(*, recipient_id: int, kind: str, actor_id: int, **extra: Any) -> None:
    if recipient_id != actor_id:
        submit_job_on_commit(
            functions.PUSH, {"recipient_id": recipient_id, "kind": kind, "actor_id": actor_id, **extra}
        )


# --------------------------------------------------------------------- posts


@job_handler(functions.MEDIA_POSTED)
def media_posted(args: JobArgs, ctx: JobContext) -> None:
    """Fan the post out, then hand sharing and subscriptions to their own jobs."""
    media = _media(int(args["media_id"]))
    if media is None:
        logger.info("media %s is gone; nothing to fan out", args["media_id"])
        fanout_finished(media_id=int(args["media_id"]))
        return
    do_fan_out_post(media_id=media.id, owner_id=media.user_id)
    for service in media.share_targets:
        submit_job_on_commit(functions.SHARE, {"media_id": media.id, "service": service})
    submit_job_on_commit(functions.SUBSCRIPTIONS_MATCH, {"media_id": media.id, "user_id": media.user_id})


@job_handler(functions.FEED_FANOUT)
def feed_fanout(args: JobArgs, ctx: JobContext) -> None:
    do_fan_out_chunk(
        media_id=int(args["media_id"]),
        owner_id=int(args["owner_id"]),
        after_edge=int(args["after_edge"]),
        last_edge=int(args["last_edge"]),
    )


@job_handler(functions.MEDIA_DELETED)
def media_deleted(args: JobArgs, ctx: JobContext) -> None:
    do_remove_post(media_id=int(args["media_id"]), owner_id=int(args["user_id"]))


@job_handler(functions.FEED_REMOVE)
def feed_remove(args: JobArgs, ctx: JobContext) -> None:
    do_remove_chunk(
        media_ids=[int(m) for m in args["media_ids"]],
        owner_id=int(args["owner_id"]),
        after_edge=int(args["after_edge"]),
        last_edge=int(args["last_edge"]),
    )


# ---------------------------------------------------------- likes, comments


@job_handler(functions.MEDIA_LIKED)
def media_liked(args: JobArgs, ctx: JobContext) -> None:
    media_id, liker, owner = int(args["media_id"]), int(args["user_id"]), int(args["owner_id"])
    entry = NewsEntry(id=f"like:{media_id}:{liker}", type=news.LIKE, actor_id=liker, media_id=media_id)
    # The like's own id tells a retry of this job (one push) from a like after an unlike (a new one).
    like_id = args.get("like_id")
    event = f"like:{media_id}:{liker}:{like_id}" if like_id is not None else entry.id
    at = _now_ms()
    if owner != liker:
        do_add_news(user_ids=[owner], tab=news.YOU, entry=entry, at_ms=at)
        _push(recipient_id=owner, kind="like", actor_id=liker, media_id=str(media_id), event=str(event))
    do_fan_out_news(actor_id=liker, entry=replace(entry, owner_id=owner), at_ms=at)


@job_handler(functions.COMMENTED)
def commented(args: JobArgs, ctx: JobContext) -> None:
    media_id, comment_id = int(args["media_id"]), int(args["comment_id"])
    author, owner = int(args["user_id"]), int(args["owner_id"])
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
            recipient_id=owner,
            kind="comment",
            actor_id=author,
            media_id=str(media_id),
            comment_text=text,
            event=entry.id,
        )
    do_fan_out_news(actor_id=author, entry=replace(entry, owner_id=owner), at_ms=at)


@job_handler(functions.MENTIONED)
def mentioned(args: JobArgs, ctx: JobContext) -> None:
    media_id, actor = int(args["media_id"]), int(args["actor_id"])
    comment_id = args.get("comment_id")
    text = ""
    with shard_for_id(media_id):
        if comment_id is not None:
            text = Comment.objects.filter(id=int(comment_id)).values_list("text", flat=True).first() or ""
        else:
            text = Media.objects.filter(id=media_id).values_list("caption", flat=True).first() or ""
    entry = NewsEntry(
        id=f"mention:{media_id}:{comment_id or 0}",
        type=news.MENTION,
        actor_id=actor,
        media_id=media_id,
        text=text[:300],
        comment_id=int(comment_id) if comment_id is not None else None,
    )
    recipients = [int(u) for u in args["user_ids"] if int(u) != actor]
    do_add_news(user_ids=recipients, tab=news.YOU, entry=entry, at_ms=_now_ms())
    in_comment = {"comment_id": int(comment_id)} if comment_id is not None else {}
    for user_id in recipients:
        _push(
            recipient_id=user_id,
            kind="mention",
            actor_id=actor,
            media_id=str(media_id),
            comment_text=text,
            event=entry.id,
            **in_comment,
        )


@job_handler(functions.NEWS_FANOUT)
def news_fanout(args: JobArgs, ctx: JobContext) -> None:
    do_fan_out_news_chunk(
        actor_id=int(args["actor_id"]),
        entry=NewsEntry.from_dict(dict(args["entry"])),
        at_ms=int(args["at_ms"]),
        after_edge=int(args["after_edge"]),
        last_edge=int(args["last_edge"]),
    )


# ------------------------------------------------------------- relationships


@job_handler(functions.RELATIONSHIP_CHANGED)
def relationship_changed(args: JobArgs, ctx: JobContext) -> None:
    """Feeds follow the follows; news and pushes tell the people concerned.

    `before` and `after` are the edge kinds the actor holds towards the
    target (relationships.transitions), so FOLLOWS is "actor follows
    target" and FOLLOWED_BY "target follows actor".
    """
    actor, target = int(args["actor_id"]), int(args["target_id"])
    before = {Kind(k) for k in args["before"]}
    after = {Kind(k) for k in args["after"]}
    gained, lost = after - before, before - after
    at = _now_ms()
    for follower, followee, kind in ((actor, target, Kind.FOLLOWS), (target, actor, Kind.FOLLOWED_BY)):
        if kind in gained:
            do_backfill_feed(follower_id=follower, followee_id=followee)
            entry = NewsEntry(id=f"follow:{follower}:{followee}", type=news.FOLLOW, actor_id=follower)
            do_add_news(user_ids=[followee], tab=news.YOU, entry=entry, at_ms=at)
            _push(recipient_id=followee, kind="follow", actor_id=follower)
            do_fan_out_news(actor_id=follower, entry=replace(entry, target_id=followee), at_ms=at)
        if kind in lost:
            do_remove_owner_from_feed(follower_id=follower, owner_id=followee)
    if Kind.REQUESTED in gained:
        entry = NewsEntry(id=f"request:{actor}:{target}", type=news.FOLLOW_REQUEST, actor_id=actor)
        do_add_news(user_ids=[target], tab=news.YOU, entry=entry, at_ms=at)
        _push(recipient_id=target, kind="follow_request", actor_id=actor)
    if Kind.REQUESTED in lost or Kind.REQUESTED_BY in lost:
        requester, asked = (actor, target) if Kind.REQUESTED in lost else (target, actor)
        news.remove_matching(user_id=asked, tab=news.YOU, event_id=f"request:{requester}:{asked}")
