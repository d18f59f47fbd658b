"""Every Gearman function name the system submits or serves, in one screen.

A name carries the payload version it was introduced with; a change to a
payload that old workers cannot read gets a new name, so a rolling deploy
never feeds a new payload to an old worker. Each name's payload is the
frozen dataclass named beside it (workers.jobs encodes and decodes them).
"""

PING = "instagram.ping.v1"  # workers.payloads.Ping

# Bump memcached versions a change could not bump (instagram.versioned_cache)
CACHE_FORGET = "instagram.cache_forget.v1"  # workers.payloads.CacheForget

# Submitted by the web processes after commit (photos.actions, relationships.actions).
MEDIA_POSTED = "instagram.media_posted.v1"  # feeds.jobs.MediaPosted: fan-out, sharing, subscriptions
MEDIA_DELETED = "instagram.media_deleted.v1"  # feeds.jobs.MediaDeleted: out of every feed
MEDIA_LIKED = "instagram.media_liked.v1"  # feeds.jobs.MediaLiked: news, push
COMMENTED = "instagram.commented.v1"  # feeds.jobs.Commented: news, push
MENTIONED = "instagram.mentioned.v1"  # feeds.jobs.Mentioned: news, push to the mentioned
# feeds.jobs.RelationshipChanged: feed backfill or removal, news, push
RELATIONSHIP_CHANGED = "instagram.relationship_changed.v1"

# Carry an account deletion on from its record (users.deletion), resumable
ACCOUNT_DELETE = "instagram.account_delete.v1"  # users.jobs.AccountDelete
# Mail the account a password-reset token (made by the worker, never stored)
PASSWORD_RESET_MAIL = "instagram.password_reset_mail.v1"  # noqa: S105 (a job name) users.jobs.PasswordResetMail

# Submitted by workers, to spread one event's work over many workers.
FEED_FANOUT = "instagram.feed_fanout.v1"  # feeds.jobs.FeedFanout: one chunk of followers
FEED_REMOVE = "instagram.feed_remove.v1"  # feeds.jobs.FeedRemove: one chunk of followers
NEWS_FANOUT = "instagram.news_fanout.v1"  # feeds.jobs.NewsFanout: "following" news, one chunk
PUSH = "instagram.push.v1"  # push.jobs.PushNotification: to the recipient's phones
SHARE = "instagram.share_media.v1"  # sharing.jobs.ShareMedia: post to Twitter or Facebook
SUBSCRIPTIONS_MATCH = "instagram.subscriptions_match.v1"  # subscriptions.jobs.SubscriptionsMatch
SUBSCRIPTION_DELIVER = "instagram.subscription_deliver.v1"  # subscriptions.jobs.SubscriptionDeliver: POST
