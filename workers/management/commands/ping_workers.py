import json
import time
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from instagram import rediskeys
from instagram.redis_client import redis_primary
from workers.payloads import Ping
from workers.submit import submit_job_on_commit


class Command(BaseCommand):
    help = "Submit a ping job through gearmand and wait for a worker to run it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--timeout", type=float, default=10.0)
        parser.add_argument(
            "--fail",
            type=int,
            default=0,
            metavar="N",
            help="fail the first N attempts, to check that retries work (at most 2: pings get 3 attempts)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        token = uuid.uuid4().hex
        started = time.monotonic()
        job_id = submit_job_on_commit(Ping(token=token, fail_attempts=options["fail"]))
        self.stdout.write(f"submitted ping job {job_id}")
        while time.monotonic() - started < options["timeout"]:
            raw = redis_primary().get(rediskeys.worker_ping(token))
            if raw is not None:
                record = json.loads(raw)
                elapsed = (time.monotonic() - started) * 1000
                self.stdout.write(
                    f"worker {record['worker']} ran it in {elapsed:.0f}ms (attempt {record['attempt']})"
                )
                return
            time.sleep(0.05)
        raise CommandError(f"no worker ran the ping within {options['timeout']:.0f}s")
