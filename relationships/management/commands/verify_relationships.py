from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from instagram.progress import progress
from relationships.consistency import Half, do_recount, do_repair_pair, miscounted_users, orphans_in_shard
from sharding.routing import shard_map


class Command(BaseCommand):
    help = (
        "Check that every relationship is stored on both users' shards and that every user's "
        "follow counts match their edges; --repair fixes what it finds."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--repair", action="store_true", help="repair half-written pairs and counts")

    def handle(self, *args: Any, **options: Any) -> None:
        count = len(shard_map(max_age=0).databases)
        orphans: list[Half] = []
        counts: dict[int, dict[str, int]] = {}
        for shard in progress(range(count), total=count, label="verifying relationships"):
            shard_orphans, shard_counts = orphans_in_shard(shard)
            orphans += shard_orphans
            counts.update(shard_counts)
        miscounted = miscounted_users(counts)
        for user_id, other_id, kind in orphans:
            self.stderr.write(f"user {user_id} {kind} {other_id}: no mirror on user {other_id}'s shard")
        for user_id in miscounted:
            self.stderr.write(f"user {user_id}: stored counts differ from their edges")
        if options["repair"]:
            for user_id, other_id, _ in orphans:
                do_repair_pair(user_id=user_id, other_id=other_id)
            do_recount(user_ids=miscounted)
            self.stdout.write(
                f"repaired {len(orphans)} half-written edges and {len(miscounted)} users' counts"
            )
        elif orphans or miscounted:
            raise CommandError(f"{len(orphans)} half-written edges, {len(miscounted)} miscounted users")
        else:
            self.stdout.write(f"{count} shards verified: every edge has its mirror, every count matches")
