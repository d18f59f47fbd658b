"""Workers' side of real-time subscriptions: match a new media, deliver the queued updates.

Both take ids, re-read what they need and are safe to run twice: a media's
updates are queued once (subscriptions.queue), and a deliver job re-sends
the batch it took, never another one.
"""

import logging

from subscriptions.actions import DELIVERY_ATTEMPTS, do_deliver_updates, do_queue_media_updates
from subscriptions.jobs import SubscriptionDeliver, SubscriptionsMatch
from subscriptions.selectors import matching_subscriptions, owner_is_private, posted_media
from workers.jobs import JobContext, job_handler

logger = logging.getLogger(__name__)


@job_handler(SubscriptionsMatch)
def match_media(job: SubscriptionsMatch, ctx: JobContext) -> None:
    """Queue an update of media `media_id` for every subscription it matches; nothing if it is gone."""
    media = posted_media(media_id=job.media_id)
    if media is None:
        logger.info("media %s is gone: no subscription updates", job.media_id)
        return
    private = owner_is_private(user_id=media.user_id)
    if private is None:
        return
    subscriptions = matching_subscriptions(media=media, private=private)
    callbacks = do_queue_media_updates(media=media, subscriptions=subscriptions)
    logger.info(
        "media %s matched %d subscriptions on %d callbacks", media.id, len(subscriptions), len(callbacks)
    )


@job_handler(SubscriptionDeliver, max_attempts=DELIVERY_ATTEMPTS)
def deliver(job: SubscriptionDeliver, ctx: JobContext) -> None:
    """POST the batch of updates this job took for callback `callback` (see subscriptions.actions)."""
    sent = do_deliver_updates(callback=job.callback, job_id=ctx.job_id, last_attempt=ctx.last_attempt)
    if sent:
        logger.info("delivered %d updates to callback %s (attempt %d)", sent, job.callback, ctx.attempt)
