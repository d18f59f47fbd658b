from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from instagram.progress import progress
from workers.actions import do_replay_dead_job
from workers.models import DeadJob


class Command(BaseCommand):
    help = (
        "List, replay or purge the jobs parked after failing every attempt. "
        "`dead_jobs list`, `dead_jobs replay ID... | --all`, `dead_jobs purge --days N`; "
        "--function narrows any of them to one job function."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["list", "replay", "purge"])
        parser.add_argument("ids", nargs="*", type=int, help="dead job ids (replay)")
        parser.add_argument("--function", help="only jobs of this Gearman function")
        parser.add_argument("--all", action="store_true", help="replay every job not replayed yet")
        parser.add_argument("--days", type=int, default=30, help="purge: rows older than this")

    def handle(self, *args: Any, **options: Any) -> None:
        jobs = DeadJob.objects.using("default").order_by("id")
        if options["function"]:
            jobs = jobs.filter(function=options["function"])
        if options["action"] == "list":
            self._list(jobs)
        elif options["action"] == "replay":
            if options["ids"]:
                jobs = jobs.filter(id__in=options["ids"])
            elif options["all"]:
                jobs = jobs.filter(replayed_at__isnull=True)
            else:
                raise CommandError("name the dead jobs to replay, or pass --all")
            self._replay(list(jobs))
        else:
            old = jobs.filter(failed_at__lt=timezone.now() - timedelta(days=options["days"]))
            deleted, _ = old.delete()
            self.stdout.write(f"purged {deleted} dead job(s) older than {options['days']} days")

    def _list(self, jobs: Any) -> None:
        count = 0
        for job in jobs:
            count += 1
            lines = job.error.strip().splitlines()
            replayed = f" replayed {job.replay_count}x" if job.replay_count else ""
            self.stdout.write(
                f"{job.id:>6}  {job.failed_at:%Y-%m-%d %H:%M:%S}  {job.function}  job {job.job_id or '-'}  "
                f"{job.attempts} attempt(s){replayed}  args={job.args}\n        {lines[-1] if lines else ''}"
            )
        self.stdout.write(f"{count} dead job(s)")

    def _replay(self, jobs: list[DeadJob]) -> None:
        replayed = 0
        for job in progress(jobs, total=len(jobs), label="replaying dead jobs"):
            try:
                do_replay_dead_job(dead_job=job)
                replayed += 1
            except ValueError as exc:
                self.stderr.write(str(exc))
        self.stdout.write(f"replayed {replayed} of {len(jobs)} dead job(s)")
