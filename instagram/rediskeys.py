"""Every Redis key the system reads or writes, in one screen.

Later features (feeds, news, the photo->user map) add their key builders
here, so the whole layout can be read at once.
"""

PREFIX = "ig"

# Web sessions (OAuth pages, admin), written by Django's Redis cache backend as
# `ig:session:1:django.contrib.sessions.cache<session key>`, with the session's expiry.
SESSION_PREFIX = f"{PREFIX}:session"


def worker_ping(token: str) -> str:
    """String, JSON: which worker ran the `ping` job carrying `token` (1 day TTL)."""
    return f"{PREFIX}:ping:{token}"


def worker_ping_attempts(token: str) -> str:
    """List of JSON records: every attempt at the `ping` job carrying `token` (1 day TTL)."""
    return f"{PREFIX}:ping:{token}:attempts"


def job_retries() -> str:
    """Sorted set: {"function", "payload"} JSON -> epoch seconds when the retry is due (workers.retry)."""
    return f"{PREFIX}:jobs:retry"


def job_retry_pump_lock() -> str:
    """String with a 5 s TTL: the worker currently moving due retries into gearmand."""
    return f"{PREFIX}:jobs:retry:lock"


def health_probe() -> str:
    """String: written and read back by /health to prove the primary takes writes."""
    return f"{PREFIX}:health:probe"


def recent_writer(user_id: int) -> str:
    """String flag with a TTL: `user_id` wrote lately, so their reads go to the primary."""
    return f"{PREFIX}:rw:{user_id}"


def rate_limit(kind: str, caller: str, window: int) -> str:
    """Integer, expires after two windows: `caller`'s `kind` (all, write) requests in hour `window`."""
    return f"{PREFIX}:rl:{kind}:{caller}:{window}"


def photo_owners(bucket: int) -> str:
    """Hash, listpack-encoded: media id -> owner's user id for one bucket of media ids (photos.photomap)."""
    return f"{PREFIX}:p2u:{bucket}"


def popular(day: int) -> str:
    """Sorted set: media id -> like velocity, decayed from the start of `day` (photos.popular)."""
    return f"{PREFIX}:pop:{day}"


def media_geo(week: int) -> str:
    """Geo set: media posted in `week` (days since the epoch // 7) at their coordinates (photos.geo)."""
    return f"{PREFIX}:geo:media:{week}"


def location_geo() -> str:
    """Geo set: every location id at its coordinates (photos.geo)."""
    return f"{PREFIX}:geo:loc"


def subscription_pending(callback: str) -> str:
    """List, oldest first, capped, expiring when idle: JSON updates waiting for one app's callback URL.

    `callback` is subscriptions.queue.callback_key(): the app id and a hash of the URL.
    """
    return f"{PREFIX}:sub:pending:{callback}"


def subscription_batch(job_id: str) -> str:
    """List with a TTL: the updates a deliver job took off a pending list, re-sent by its retries."""
    return f"{PREFIX}:sub:batch:{job_id}"


def subscription_matched(media_id: int) -> str:
    """String flag with a TTL: `media_id`'s updates were queued, so a rerun of its match job queues none."""
    return f"{PREFIX}:sub:matched:{media_id}"


def feed(user_id: int) -> str:
    """Sorted set, all scores 0: media ids as 20-digit members, plus the built marker (feeds.store)."""
    return f"{PREFIX}:feed:{user_id}"


def feed_rebuilding(user_id: int) -> str:
    """String flag on the user's feed shard: a rebuild of the feed began and has not stored its entries
    yet (feeds.store.mark_built). Not under feed_pattern(): a scan of the feeds does not see it."""
    return f"{PREFIX}:feed-rebuilding:{user_id}"


def feed_pattern() -> str:
    """SCAN pattern of every feed (and of the celebrities set, which a scan skips)."""
    return f"{PREFIX}:feed:*"


def followed_celebrities(user_id: int) -> str:
    """String on the user's feed shard: the celebrities they follow, and which celebrity set that was
    read against (feeds.store.followed_among)."""
    return f"{PREFIX}:followed-celebs:{user_id}"


def feed_celebrities() -> str:
    """Set: user ids not fanned out on write (more followers than FEED_FANOUT_MAX_FOLLOWERS)."""
    return f"{PREFIX}:feed:celebs"


def fanout_progress(media_id: int) -> str:
    """Hash: a post's fan-out: chunks, chunks_done, feeds_written, started, finished (1 day TTL)."""
    return f"{PREFIX}:fanout:{media_id}"


def news(user_id: int, tab: str) -> str:
    """Sorted set: JSON news entries -> epoch ms, capped at NEWS_SIZE; tab is "you" or "following"."""
    return f"{PREFIX}:news:{tab}:{user_id}"


def news_pattern() -> str:
    """SCAN pattern of every news list."""
    return f"{PREFIX}:news:*"


def push_sent(notification: str) -> str:
    """Hash with a TTL: device id -> 1 for each device `notification` reached, so retries skip them.

    `notification` is the push's stable key (push.handlers.notification_key):
    every job pushing the same event to the same recipient shares it.
    """
    return f"{PREFIX}:push:sent:{notification}"


def push_claim(notification: str) -> str:
    """String with a short TTL: held (SET NX) by the one worker sending `notification` right now."""
    return f"{PREFIX}:push:claim:{notification}"


def stats() -> str:
    """Hash of monotonic counters: sign-ups, photos, likes, finished fan-outs, lag (monitoring.stats)."""
    return f"{PREFIX}:stats"


def fanout_pending() -> str:
    """Sorted set: media id -> epoch seconds of its commit, until its fan-out finishes (monitoring.stats)."""
    return f"{PREFIX}:stats:fanout:pending"


def alert_state(name: str) -> str:
    """Hash: an alert rule's state (failing since, consecutive failures, triggered) (monitoring.alerts)."""
    return f"{PREFIX}:alert:{name}"
