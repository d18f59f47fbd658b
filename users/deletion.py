"""Account deletion, carried on step by step from its durable record (users.models.AccountDeletion).

do_delete_account (users.actions) deactivates the account and writes the
record; the `account_delete` job calls do_continue_deletion, which runs the
steps in order. Every unit of work commits before the record moves past it,
and every unit is idempotent, so a worker killed anywhere resumes from the
record and repeats at most the unit it was in. What each step removes, and
what is anonymized instead, is in docs/accounts.md.
"""

import logging
from collections.abc import Iterable, Sequence

from django.db import transaction
from django.utils import timezone

from feeds import news, store
from instagram import rediskeys
from instagram.redis_client import feed_redis, redis_primary
from photos.actions import do_clean_up_media, do_delete_media, do_remove_comments_of, do_remove_like_of
from photos.models import Comment, Like, LikedMedia, Media
from photos.text import mentions
from push.models import Device, PushSettings
from relationships.actions import do_sever_relationship
from relationships.models import Edge
from sharding.routing import shard_for_user, shard_map, use_shard
from sharing.models import LinkedAccount
from users.actions import do_revoke_access, drop_profile_picture
from users.cache import forget_profiles_on_commit
from users.models import AccountDeletion, DeletionStep, User

logger = logging.getLogger(__name__)

BATCH = 100


def logical_shard_count() -> int:
    return len(shard_map(max_age=0).databases)


def do_continue_deletion(*, user_id: int, until: DeletionStep = DeletionStep.DONE) -> DeletionStep | None:
    """Run the deletion's remaining steps (stopping before `until`); return the step reached.

    None when the account has no deletion record (nothing to do).
    """
    record = AccountDeletion.objects.filter(user_id=user_id).first()
    if record is None:
        return None
    order = list(DeletionStep)
    while record.step != DeletionStep.DONE and order.index(DeletionStep(record.step)) < order.index(until):
        step = DeletionStep(record.step)
        STEPS[step](record)
        logger.info("account %d deletion: %s done", user_id, step)
        record.step = order[order.index(step) + 1]
        record.cursor = 0
        record.save(update_fields=["step", "cursor", "updated_at"])
    return DeletionStep(record.step)


def _access(record: AccountDeletion) -> None:
    user_id = record.user_id
    with transaction.atomic(using="default"):
        do_revoke_access(user_id=user_id)
        Device.objects.filter(user_id=user_id).delete()
        LinkedAccount.objects.filter(user_id=user_id).delete()
        PushSettings.objects.filter(user_id=user_id).delete()


def _media(record: AccountDeletion) -> None:
    """Delete the media one by one: first noted in the record, then cleaned up, then the row."""
    user_id = record.user_id
    while True:
        with shard_for_user(user_id):
            batch = list(
                Media.objects.filter(user_id=user_id)
                .order_by("id")
                .values_list("id", "object_prefix", "tags", "location_id", "caption")[:BATCH]
            )
        if not batch:
            return
        _forget_news(user_id=user_id, texts=[caption for *_, caption in batch])
        noted = {entry["id"] for entry in record.media}
        fresh = [
            {"id": media_id, "prefix": prefix, "tags": list(tags), "location_id": location_id}
            for media_id, prefix, tags, location_id, _ in batch
            if media_id not in noted
        ]
        if fresh:  # one write a batch: the list grows with the account's media
            record.media = [*record.media, *fresh]
            record.save(update_fields=["media", "updated_at"])
        for media_id, *_ in batch:
            # Before the row goes: its on-commit clean-up would be lost with a killed worker.
            do_clean_up_media(media_id=media_id)
            # False: deleted by a run before this one (or an operator) since the batch was read.
            do_delete_media(media_id=media_id, owner_id=user_id)


def _interactions(record: AccountDeletion) -> None:
    """Remove its likes and comments on others' media, one logical shard at a time (the cursor)."""
    user_id = record.user_id
    for shard in range(record.cursor, logical_shard_count()):
        with use_shard(shard):
            liked = set(Like.objects.filter(user_id=user_id).values_list("media_id", flat=True))
            comments = list(Comment.objects.filter(user_id=user_id).values_list("media_id", "text"))
            commented = {media_id for media_id, _ in comments}
            owners = set(Media.objects.filter(id__in=liked | commented).values_list("user_id", flat=True))
        # The news first: once the rows are gone, nothing says whose lists name it.
        _forget_news(user_id=user_id, texts=[text for _, text in comments], also=owners)
        for media_id in sorted(liked):
            do_remove_like_of(media_id=media_id, user_id=user_id)
        for media_id in sorted(commented):
            do_remove_comments_of(media_id=media_id, user_id=user_id)
        record.cursor = shard + 1
        record.save(update_fields=["cursor", "updated_at"])
    with shard_for_user(user_id):  # halves of likes whose media went first
        LikedMedia.objects.filter(user_id=user_id).delete()


def _relationships(record: AccountDeletion) -> None:
    """Empty every pair it is in, found from its own shard's halves and from the others' (crash leftovers)."""
    user_id = record.user_id
    while True:
        with shard_for_user(user_id):
            others = list(
                Edge.objects.filter(user_id=user_id).values_list("other_id", flat=True).distinct()[:BATCH]
            )
        if not others:
            break
        _forget_news(user_id=user_id, also=set(others))
        for other_id in others:
            do_sever_relationship(user_id=user_id, other_id=other_id)
    for shard in range(logical_shard_count()):
        with use_shard(shard):
            others = list(Edge.objects.filter(other_id=user_id).values_list("user_id", flat=True).distinct())
        _forget_news(user_id=user_id, also=set(others))
        for other_id in others:
            do_sever_relationship(user_id=user_id, other_id=other_id)


def _forget_news(*, user_id: int, texts: Sequence[str] = (), also: Iterable[int] = ()) -> None:
    """Remove the entries naming the account from the news of `also` and of those `texts` mention."""
    mentioned = {name for text in texts for name in mentions(text)}
    people = set(also)
    if mentioned:
        people |= set(User.objects.filter(username__lower__in=mentioned).values_list("id", flat=True))
    people.discard(user_id)
    news.remove_naming(user_ids=sorted(people), person_id=user_id)


def _redis(record: AccountDeletion) -> None:
    user_id = record.user_id
    store.drop(user_id=user_id)
    own = [rediskeys.followed_celebrities(user_id), *(rediskeys.news(user_id, tab) for tab in news.TABS)]
    feed_redis(user_id).delete(*own)
    redis_primary().srem(rediskeys.feed_celebrities(), user_id)


def _account(record: AccountDeletion) -> None:
    """Anonymize the account row: its id stays taken (old references resolve to nobody), its name is freed.

    Its profile picture's object goes first (and the CDN's copy): the row is
    the only record of its key, so a worker killed in between deletes it
    again on the next run.
    """
    picture = User.objects.filter(id=record.user_id).values_list("profile_picture", flat=True).first()
    if picture:
        drop_profile_picture(key=picture)
    with transaction.atomic(using="default"):
        User.objects.filter(id=record.user_id).update(
            username=f"deleted_{record.user_id}",
            email="",
            first_name="",
            last_name="",
            full_name="",
            bio="",
            website="",
            profile_picture="",
            last_login=None,
            is_private=False,
            is_active=False,
            is_staff=False,
            is_superuser=False,
            media_count=0,
            follows_count=0,
            followed_by_count=0,
        )
        forget_profiles_on_commit(record.user_id)
        record.finished_at = timezone.now()
        record.save(update_fields=["finished_at", "updated_at"])


STEPS = {
    DeletionStep.ACCESS: _access,
    DeletionStep.MEDIA: _media,
    DeletionStep.INTERACTIONS: _interactions,
    DeletionStep.RELATIONSHIPS: _relationships,
    DeletionStep.REDIS: _redis,
    DeletionStep.ACCOUNT: _account,
}
