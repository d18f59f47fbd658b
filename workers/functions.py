"""Every Gearman function name the system submits or serves, in one screen.

A name carries the payload version it was introduced with; a change to a
payload that old workers cannot read gets a new name, so a rolling deploy
never feeds a new payload to an old worker.
"""

PING = "instagram.ping.v1"

# Photos (photos.actions submits them; the feeds issue gives them their real work).
MEDIA_POSTED = "instagram.media_posted.v1"  # {media_id, user_id}: fan-out, sharing, subscriptions
MEDIA_LIKED = "instagram.media_liked.v1"  # {media_id, user_id, owner_id}: news, push
COMMENTED = "instagram.commented.v1"  # {media_id, comment_id, user_id, owner_id}: news, push
MENTIONED = "instagram.mentioned.v1"  # {media_id, actor_id, user_ids}: news, push to the mentioned
