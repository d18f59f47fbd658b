"""igctl: operators' everyday tasks from a shell, in the spirit of Mastodon's tootctl.

    igctl accounts list [--search Q] [--inactive] [--limit N]
    igctl accounts show USER
    igctl accounts deactivate USER | reactivate USER
    igctl accounts delete USER
    igctl accounts resume-deletion ID [--until STEP]
    igctl accounts verify-deleted ID
    igctl media remove MEDIA_ID
    igctl media orphans [--delete] [--min-age SECONDS]
    igctl feeds rebuild [USER ...] [--all]
    igctl reports list [--all]

USER is a username or a numeric id. Each task goes through the same actions
as the admin and the API (moderation.actions, photos.actions, feeds'
rebuild_feeds), so counters, feeds, indexes and the CDN stay right.
"""

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from instagram.errors import APIError
from instagram.progress import progress
from moderation.actions import do_remove_media, do_set_active
from photos.models import Media
from photos.refs import media_id_from_ref
from photos.storage import delete_objects, s3_client
from reports.models import Report
from sharding.selectors import scan_shards
from users.actions import do_delete_account
from users.deletion import do_continue_deletion
from users.leftovers import deletion_leftovers
from users.models import DeletionStep, User

MEDIA_PREFIX = "m/"  # photos.storage.new_object_prefix
DELETE_BATCH = 1000  # S3's DeleteObjects limit


class Command(BaseCommand):
    help = "Operators' everyday tasks: accounts, media, feeds, reports (see `igctl AREA --help`)."

    def add_arguments(self, parser: CommandParser) -> None:
        areas = parser.add_subparsers(dest="area", required=True)

        accounts = areas.add_parser("accounts", help="list, show, deactivate, reactivate accounts")
        account_tasks = accounts.add_subparsers(dest="task", required=True)
        listing = account_tasks.add_parser("list", help="accounts by username")
        listing.add_argument("--search", default="", help="username, e-mail or full name containing this")
        listing.add_argument("--inactive", action="store_true", help="deactivated accounts only")
        listing.add_argument("--limit", type=int, default=50)
        for task in ("show", "deactivate", "reactivate"):
            account_tasks.add_parser(task).add_argument("user", help="username or id")
        account_tasks.add_parser(
            "delete", help="delete an account as its owner would (at once, then the background job)"
        ).add_argument("user", help="username or id")
        resume = account_tasks.add_parser(
            "resume-deletion", help="carry a deletion on from its record here, in the foreground"
        )
        resume.add_argument("id", type=int, help="the deleted account's id")
        resume.add_argument(
            "--until",
            choices=[step.value for step in DeletionStep],
            default=DeletionStep.DONE.value,
            help="stop before this step",
        )
        account_tasks.add_parser(
            "verify-deleted", help="prove a deleted account left nothing (exit status 1 if it did)"
        ).add_argument("id", type=int, help="the deleted account's id")

        media = areas.add_parser("media", help="remove a photo; find (and delete) orphans")
        media_tasks = media.add_subparsers(dest="task", required=True)
        media_tasks.add_parser("remove").add_argument("media", help="media id (or v1 id <media>_<owner>)")
        orphans = media_tasks.add_parser(
            "orphans", help="S3 objects with no media row, and media rows with no S3 objects"
        )
        orphans.add_argument("--delete", action="store_true", help="delete the objects and remove the rows")
        orphans.add_argument(
            "--min-age",
            type=int,
            default=3600,
            help="leave objects younger than this (seconds): an upload stores them before its row",
        )

        feeds = areas.add_parser("feeds", help="rebuild feeds in Redis")
        feed_tasks = feeds.add_subparsers(dest="task", required=True)
        rebuild = feed_tasks.add_parser("rebuild")
        rebuild.add_argument("users", nargs="*", help="usernames or ids")
        rebuild.add_argument("--all", action="store_true", help="every active user")

        reports = areas.add_parser("reports", help="users' reports")
        report_tasks = reports.add_subparsers(dest="task", required=True)
        report_tasks.add_parser("list").add_argument("--all", action="store_true", help="resolved ones too")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['area']}_{options['task'].replace('-', '_')}")(options)

    # ------------------------------------------------------------ accounts

    def _user(self, ref: str) -> User:
        found = User.objects.filter(
            Q(username__iexact=ref) | Q(id=int(ref) if ref.isdigit() else None)
        ).first()
        if found is None:
            raise CommandError(f"no account {ref}")
        return found

    def _accounts_list(self, options: dict[str, Any]) -> None:
        users = User.objects.order_by("username")
        if options["inactive"]:
            users = users.filter(is_active=False)
        if needle := options["search"]:
            users = users.filter(
                Q(username__icontains=needle) | Q(email__icontains=needle) | Q(full_name__icontains=needle)
            )
        for user in users[: options["limit"]]:
            state = "active" if user.is_active else "DEACTIVATED"
            self.stdout.write(f"{user.id}\t{user.username}\t{user.email}\t{user.full_name}\t{state}")

    def _accounts_show(self, options: dict[str, Any]) -> None:
        user = self._user(options["user"])
        open_reports = Report.objects.filter(target_user=user, resolved_at__isnull=True).count()
        for name, value in (
            ("id", user.id),
            ("username", user.username),
            ("e-mail", user.email),
            ("full name", user.full_name),
            ("state", "active" if user.is_active else "deactivated"),
            ("private", user.is_private),
            ("staff", user.is_staff),
            ("joined", user.date_joined.isoformat()),
            ("media", user.media_count),
            ("follows", user.follows_count),
            ("followed by", user.followed_by_count),
            ("open reports", open_reports),
        ):
            self.stdout.write(f"{name + ':':<14}{value}")

    def _accounts_deactivate(self, options: dict[str, Any]) -> None:
        self._set_active(options["user"], active=False)

    def _accounts_reactivate(self, options: dict[str, Any]) -> None:
        self._set_active(options["user"], active=True)

    def _set_active(self, ref: str, *, active: bool) -> None:
        user = self._user(ref)
        changed = do_set_active(user_id=user.id, active=active)
        state = "reactivated" if active else "deactivated"
        self.stdout.write(f"{user.username} {state}" if changed else f"{user.username} was already {state}")

    def _accounts_delete(self, options: dict[str, Any]) -> None:
        user = self._user(options["user"])
        if do_delete_account(user_id=user.id):
            self.stdout.write(f"{user.username} ({user.id}) deleted; the job removes its data")
        else:
            self.stdout.write(f"{user.username} ({user.id}) was already deleted")

    def _accounts_resume_deletion(self, options: dict[str, Any]) -> None:
        reached = do_continue_deletion(user_id=options["id"], until=DeletionStep(options["until"]))
        if reached is None:
            raise CommandError(f"account {options['id']} has no deletion record")
        self.stdout.write(f"account {options['id']}: deletion at step {reached}")

    def _accounts_verify_deleted(self, options: dict[str, Any]) -> None:
        found = deletion_leftovers(user_id=options["id"])
        for line in found:
            self.stdout.write(f"  {line}")
        if found:
            raise CommandError(f"account {options['id']} left {len(found)} trace(s)")
        self.stdout.write(f"account {options['id']}: nothing left")

    # --------------------------------------------------------------- media

    def _media_remove(self, options: dict[str, Any]) -> None:
        try:
            media_id = media_id_from_ref(options["media"])
            do_remove_media(media_id=media_id)
        except APIError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"removed media {media_id}")

    def _media_orphans(self, options: dict[str, Any]) -> None:
        """List (and with --delete, clean up) what the bucket and the shards disagree on.

        The shards are read first, then the bucket: an upload stores its
        objects before its row, so a young prefix without a row may be an
        upload in flight (--min-age leaves it); a row whose objects a delete
        removed meanwhile is gone again when --delete comes to it.
        """
        rows: dict[str, int] = {}
        for batch in scan_shards(
            Media.objects.all(), "id", "object_prefix", batch=5000, label="reading shards"
        ):
            rows.update({prefix: media_id for media_id, prefix in batch})
        objects: dict[str, list[str]] = defaultdict(list)
        newest: dict[str, datetime] = {}
        pages = (
            s3_client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=settings.S3_BUCKET, Prefix=MEDIA_PREFIX)
        )
        for page in pages:
            for item in page.get("Contents", []):
                prefix = item["Key"].rpartition("/")[0]
                objects[prefix].append(item["Key"])
                newest[prefix] = max(newest.get(prefix, item["LastModified"]), item["LastModified"])
        now = datetime.now(tz=UTC)
        stray = sorted(
            p for p in objects if p not in rows and (now - newest[p]).total_seconds() >= options["min_age"]
        )
        bare = sorted(media_id for prefix, media_id in rows.items() if prefix not in objects)
        self.stdout.write(f"{len(stray)} object prefix(es) with no media row:")
        for prefix in stray:
            self.stdout.write(f"  s3 {prefix}/ ({len(objects[prefix])} object(s))")
        self.stdout.write(f"{len(bare)} media row(s) with no objects:")
        for media_id in bare:
            self.stdout.write(f"  media {media_id}")
        if not options["delete"]:
            return
        keys = [key for prefix in stray for key in objects[prefix]]
        batches = [keys[i : i + DELETE_BATCH] for i in range(0, len(keys), DELETE_BATCH)]
        for chunk in progress(batches, total=len(batches), label="deleting objects"):
            delete_objects(chunk)
        removed = 0
        for media_id in progress(bare, total=len(bare), label="removing rows"):
            try:
                do_remove_media(media_id=media_id)
                removed += 1
            except APIError:  # deleted meanwhile
                pass
        self.stdout.write(f"deleted {len(keys)} object(s); removed {removed} media row(s)")

    # --------------------------------------------------------------- feeds

    def _feeds_rebuild(self, options: dict[str, Any]) -> None:
        ids = [str(self._user(ref).id) for ref in options["users"]]
        if not ids and not options["all"]:
            raise CommandError("name the users whose feeds to rebuild, or pass --all")
        call_command("rebuild_feeds", *ids, *(["--all"] if options["all"] else []), stdout=self.stdout)

    # ------------------------------------------------------------- reports

    def _reports_list(self, options: dict[str, Any]) -> None:
        reports = Report.objects.select_related("target_user", "reporter").order_by("created_at")
        if not options["all"]:
            reports = reports.filter(resolved_at__isnull=True)
        for report in reports:
            self.stdout.write(
                f"{report.id}\t{report.created_at:%Y-%m-%d %H:%M}\t{report.target}\t{report.reason}\t"
                f"{report.target_user.username}\tby {report.reporter.username}\t{report.resolution or 'open'}"
            )
