from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from instagram.progress import progress
from photos.consistency import (
    MediaDrift,
    do_recount_media,
    do_recount_user_media,
    media_drift_in_shard,
    media_miscounted_users,
)
from relationships.consistency import do_recount, miscounted_users, orphans_in_shard
from sharding.routing import shard_map


class Command(BaseCommand):
    help = (
        "Check every counter against its rows: each media's likes and comments, each user's media, "
        "follows and followed-by; --repair sets the drifted ones to their rows (under the writers' locks)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--repair", action="store_true", help="set drifted counters to their rows")

    def handle(self, *args: Any, **options: Any) -> None:
        count = len(shard_map(max_age=0).databases)
        media: list[MediaDrift] = []
        owned: dict[int, int] = {}
        follows: dict[int, dict[str, int]] = {}
        half_written = 0
        for shard in progress(range(count), total=count, label="verifying counts"):
            shard_media, shard_owned = media_drift_in_shard(shard)
            media += shard_media
            owned.update(shard_owned)  # a user's media all live on the user's one shard
            orphans, shard_follows = orphans_in_shard(shard)
            follows.update(shard_follows)  # so do their edges
            half_written += len(orphans)
        media_users = media_miscounted_users(owned)
        follow_users = miscounted_users(follows)
        for drift in media:
            self.stderr.write(
                f"media {drift.media_id}: {drift.like_count} likes counted, {drift.likes} rows; "
                f"{drift.comment_count} comments counted, {drift.comments} rows"
            )
        for user_id, stored, rows in media_users:
            self.stderr.write(f"user {user_id}: {stored} media counted, {rows} rows")
        for user_id in follow_users:
            self.stderr.write(f"user {user_id}: follow counts differ from their edges")
        if half_written:
            self.stderr.write(f"{half_written} half-written edges: run verify_relationships --repair first")
        total = len(media) + len(media_users) + len(follow_users)
        if options["repair"]:
            for drift in media:
                do_recount_media(media_id=drift.media_id)
            for user_id, _, _ in media_users:
                do_recount_user_media(user_id=user_id)
            do_recount(user_ids=follow_users)
            self.stdout.write(
                f"repaired {len(media)} media's counts, {len(media_users)} users' media counts "
                f"and {len(follow_users)} users' follow counts"
            )
        elif total:
            raise CommandError(
                f"{len(media)} media, {len(media_users)} media counts "
                f"and {len(follow_users)} follow counts drifted"
            )
        else:
            self.stdout.write(f"{count} shards verified: every counter equals its rows")
