import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from feeds import store
from feeds.actions import do_rebuild_celebrities, do_rebuild_feed
from instagram.progress import progress
from users.models import User

BATCH = 1000


class Command(BaseCommand):
    help = (
        "Rebuild feeds in Redis from PostgreSQL (after Redis lost its data, or to repair some): "
        "the celebrity set first, then the feed of each user named, or of every active user with --all. "
        "Safe while the site runs: a rebuild merges with what fan-outs write meanwhile."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("user_ids", nargs="*", type=int, help="users whose feeds to rebuild")
        parser.add_argument("--all", action="store_true", help="every active user")
        parser.add_argument(
            "--missing", action="store_true", help="only feeds that are not in Redis (skip the built ones)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["user_ids"] and not options["all"]:
            raise CommandError("name the users whose feeds to rebuild, or pass --all")
        celebrities = do_rebuild_celebrities()
        self.stdout.write(f"{celebrities} account(s) above the fan-out threshold (merged at read time)")
        users = User.objects.filter(is_active=True).order_by("id")
        if options["user_ids"]:
            users = users.filter(id__in=options["user_ids"])
        total = users.count()
        started = time.monotonic()
        rebuilt = skipped = entries = 0
        for user_id in progress(self._ids(users), total=total, label="rebuilding feeds"):
            if (
                options["missing"]
                and store.page(user_id=user_id, max_id=None, min_id=None, count=1) is not None
            ):
                skipped += 1
                continue
            entries += do_rebuild_feed(user_id=user_id)
            rebuilt += 1
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"rebuilt {rebuilt} feed(s) with {entries} entries in {elapsed:.1f}s"
            + (f"; {skipped} already built" if skipped else "")
        )

    def _ids(self, users: Any) -> Any:
        last = 0
        while True:
            batch = list(users.filter(id__gt=last).values_list("id", flat=True)[:BATCH])
            yield from batch
            if len(batch) < BATCH:
                return
            last = batch[-1]
