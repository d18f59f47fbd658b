"""What an account deletion may have left behind: the reads behind `igctl accounts verify-deleted`.

Each check reads where the deletion job writes (users.deletion) and where a
crash, a bug or a lost on-commit could have left a trace: the main
database, every logical shard, Redis, the bucket and the CDN. An empty
answer proves the account is gone.
"""

import json
from collections.abc import Callable
from typing import Any, cast

import requests
from django.conf import settings
from oauth2_provider.models import AccessToken, Grant, IDToken, RefreshToken

from feeds import news
from feeds.store import member
from instagram import rediskeys
from instagram.progress import progress
from instagram.redis_client import feed_primary, feed_redis, feed_shard_count, redis_primary
from photos import geo, photomap
from photos.actions import stored_keys
from photos.models import Comment, Like, LikedMedia, LocationMedia, Media, TagMedia
from photos.storage import cdn_url, s3_client
from push.models import Device, PushSettings
from relationships.models import Edge
from sharding.routing import shard_map, use_shard
from sharing.models import LinkedAccount
from users.models import AccountDeletion, DeletionStep, User

ANONYMIZED = ("email", "first_name", "last_name", "full_name", "bio", "website", "profile_picture")


def deletion_leftovers(*, user_id: int) -> list[str]:
    """Return one line per trace the deleted account `user_id` left; [] when nothing is left."""
    record = AccountDeletion.objects.filter(user_id=user_id).first()
    if record is None:
        return [f"account {user_id} has no deletion record"]
    found = [] if record.step == DeletionStep.DONE else [f"the deletion is still at step {record.step}"]
    media_ids = [int(entry["id"]) for entry in record.media]
    found += _account(user_id)
    found += _shards(user_id, media_ids, label="checking shards")
    found += _redis(user_id, media_ids, label="checking feeds")
    found += _objects(record.media)
    return found


def _account(user_id: int) -> list[str]:
    found = []
    user = User.objects.filter(id=user_id).first()
    if user is not None:
        if user.is_active or user.has_usable_password() or user.username != f"deleted_{user_id}":
            found.append("the account row is not deactivated and anonymized")
        found += [f"the account row keeps its {name}" for name in ANONYMIZED if getattr(user, name)]
    for name, model in (
        ("access tokens", AccessToken),
        ("refresh tokens", RefreshToken),
        ("grants", Grant),
        ("ID tokens", IDToken),
        ("devices", Device),
        ("linked accounts", LinkedAccount),
        ("push settings", PushSettings),
    ):
        count = model.objects.filter(user_id=user_id).count()
        if count:
            found.append(f"{count} {name}")
    return found


def _shards(user_id: int, media_ids: list[int], *, label: str) -> list[str]:
    """Count, on every logical shard, the rows that name the account or its media."""
    queries: dict[str, Callable[[], Any]] = {
        "media": lambda: Media.objects.filter(user_id=user_id),
        "likes it made": lambda: Like.objects.filter(user_id=user_id),
        "likes of its media": lambda: Like.objects.filter(media_id__in=media_ids),
        "liked-media rows": lambda: LikedMedia.objects.filter(user_id=user_id),
        "liked-media rows of its media": lambda: LikedMedia.objects.filter(media_id__in=media_ids),
        "comments it made": lambda: Comment.objects.filter(user_id=user_id),
        "comments on its media": lambda: Comment.objects.filter(media_id__in=media_ids),
        "its relationship edges": lambda: Edge.objects.filter(user_id=user_id),
        "others' edges to it": lambda: Edge.objects.filter(other_id=user_id),
        "tag index entries": lambda: TagMedia.objects.filter(owner_id=user_id),
        "location index entries": lambda: LocationMedia.objects.filter(owner_id=user_id),
    }
    found = []
    count = len(shard_map(max_age=0).databases)
    for shard in progress(range(count), total=count, label=label):
        with use_shard(shard, read_only=False):
            for name, query in queries.items():
                rows = query().count()
                if rows:
                    found.append(f"shard {shard}: {rows} {name}")
    return found


def _redis(user_id: int, media_ids: list[int], *, label: str) -> list[str]:
    """Its own lists, its media in anyone's feed, news naming it, the photo map and the geo index."""
    own = feed_redis(user_id)
    found = [
        f"redis key {key}"
        for key in (
            rediskeys.feed(user_id),
            rediskeys.feed_rebuilding(user_id),
            rediskeys.followed_celebrities(user_id),
            *(rediskeys.news(user_id, t) for t in news.TABS),
        )
        if own.exists(key)
    ]
    if redis_primary().sismember(rediskeys.feed_celebrities(), str(user_id)):
        found.append("it is still in the celebrities set")
    owners = photomap.owners_of(media_ids)
    found += [f"the photo map still maps media {media_id}" for media_id in owners]
    found += [f"the geo index still holds media {m}" for m in media_ids if geo.is_indexed(media_id=m)]
    members = [member(media_id) for media_id in media_ids]
    # Anyone's feed and news may name it: every feed shard is scanned.
    for client in (feed_primary(index) for index in range(feed_shard_count())):
        feeds = list(client.scan_iter(match=rediskeys.feed_pattern(), count=1000))
        for key in progress(feeds, total=len(feeds), label=label):
            if members and key.decode() != rediskeys.feed_celebrities():
                scores = client.zmscore(key, members)
                found += [
                    f"{key.decode()} holds media {m}"
                    for m, s in zip(media_ids, scores, strict=True)
                    if s is not None
                ]
        for key in client.scan_iter(match=rediskeys.news_pattern(), count=1000):
            entries = cast(list[bytes], client.zrange(key, 0, -1))
            acted = [e for e in entries if str(json.loads(e).get("actor_id")) == str(user_id)]
            if acted:
                found.append(f"{key.decode()} holds {len(acted)} entries of its actions")
    return found


def _objects(media: list[dict[str, Any]]) -> list[str]:
    """Its media's objects in the bucket, and copies the CDN still serves."""
    found = []
    for entry in media:
        prefix = entry["prefix"]
        listed = s3_client().list_objects_v2(Bucket=settings.S3_BUCKET, Prefix=f"{prefix}/")
        if listed.get("KeyCount", 0):
            found.append(f"s3 {prefix}/ holds {listed['KeyCount']} object(s)")
        for key in stored_keys(prefix):
            url = cdn_url(key)
            if requests.head(url, timeout=10).status_code == 200:
                found.append(f"the CDN still serves {url}")
    return found
