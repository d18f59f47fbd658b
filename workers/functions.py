"""Every Gearman function name the system submits or serves, in one screen.

A name carries the payload version it was introduced with; a change to a
payload that old workers cannot read gets a new name, so a rolling deploy
never feeds a new payload to an old worker.
"""

PING = "instagram.ping.v1"

# {namespace, ids}: bump memcached versions a change could not bump (instagram.versioned_cache)
CACHE_FORGET = "instagram.cache_forget.v1"

# Submitted by the web processes after commit (photos.actions, relationships.actions).
MEDIA_POSTED = "instagram.media_posted.v1"  # {media_id, user_id}: fan-out, sharing, subscriptions
MEDIA_DELETED = "instagram.media_deleted.v1"  # {media_id, user_id}: out of every feed
MEDIA_LIKED = "instagram.media_liked.v1"  # {media_id, user_id, owner_id}: news, push
COMMENTED = "instagram.commented.v1"  # {media_id, comment_id, user_id, owner_id}: news, push
MENTIONED = "instagram.mentioned.v1"  # {media_id, actor_id, user_ids}: news, push to the mentioned
# {actor_id, target_id, action, before, after}: feed backfill or removal, news, push
RELATIONSHIP_CHANGED = "instagram.relationship_changed.v1"

# {user_id}: carry an account deletion on from its record (users.deletion), resumable
ACCOUNT_DELETE = "instagram.account_delete.v1"
# {user_id}: mail the account a password-reset token (made by the worker, never stored)
PASSWORD_RESET_MAIL = "instagram.password_reset_mail.v1"  # noqa: S105 (a job name)

# Submitted by workers, to spread one event's work over many workers.
FEED_FANOUT = (
    "instagram.feed_fanout.v1"  # {media_id, owner_id, after_edge, last_edge}: one chunk of followers
)
FEED_REMOVE = (
    "instagram.feed_remove.v1"  # {owner_id, media_ids, after_edge, last_edge}: one chunk of followers
)
NEWS_FANOUT = "instagram.news_fanout.v1"  # {actor_id, entry, after_edge, last_edge}: "following" news chunk
PUSH = "instagram.push.v1"  # {recipient_id, kind, actor_id, media_id?, comment_text?, comment_id?}: to phones
SHARE = "instagram.share_media.v1"  # {media_id, service}: post to Twitter or Facebook
SUBSCRIPTIONS_MATCH = "instagram.subscriptions_match.v1"  # {media_id, user_id}: find the subscriptions
SUBSCRIPTION_DELIVER = "instagram.subscription_deliver.v1"  # {callback}: POST the pending updates
