"""The worker loop: takes jobs from gearmand and runs the registered handlers.

Between jobs each worker also relays the job outbox (workers.outbox): jobs
committed while gearmand could not take them.

A job's outcome is settled before gearmand hears it is done: success; a
failure scheduled for retry (workers.retry); or a dead letter
(workers.models.DeadJob). If even that cannot be recorded (Redis or the
database down), the worker exits without acknowledging the job, so gearmand
gives it to another worker, and supervisord starts this one again.
"""

import contextvars
import logging
import os
import signal
import socket
import sys
import time
import traceback
from typing import Any

import gearman
from django.db import close_old_connections

from instagram.requestid import request_id_var
from monitoring.sentry import capture_job_failure
from workers import retry
from workers.actions import do_park_job
from workers.jobs import REGISTRY, JobContext, Payload, PayloadError, PermanentJobError
from workers.outbox import relay_outbox
from workers.transport import submit_payload_rollback_unsafe

# Seconds between two relays of the outbox by one worker: a few queries on
# each database, so a committed job waits at most about this plus the grace.
OUTBOX_RELAY_INTERVAL = 1.0
# gearman polls after every job and every wake-up: pumping due retries on each
# poll cost three Redis commands a poll, about 28 per like (docs/performance.md, change 21).
RETRY_PUMP_INTERVAL = 0.5

logger = logging.getLogger("workers.job")


class OutcomeNotRecorded(BaseException):
    """The job failed and neither a retry nor a dead letter could be recorded.

    A BaseException, so that gearman (which catches Exception and
    reports WORK_FAIL, dropping a background job) lets it through.
    """


class Worker(gearman.GearmanWorker):  # type: ignore[misc]
    """A GearmanWorker that stops between jobs after SIGTERM or SIGINT, and pumps due retries."""

    def __init__(self, servers: list[str]) -> None:
        super().__init__(servers)
        self.stopping = False
        self.next_relay = 0.0
        self.next_pump = 0.0
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.set_client_id(self.worker_id)
        for function in REGISTRY:
            # The client keys abilities by the name as the wire carries it: bytes.
            self.register_task(function.encode(), self.run_job)

    def after_poll(self, any_activity: bool) -> bool:
        if time.monotonic() >= self.next_pump:
            self.next_pump = time.monotonic() + RETRY_PUMP_INTERVAL
            try:
                retry.pump_due_retries(owner=self.worker_id)
            except Exception:
                logger.exception("could not submit due retries; the next poll tries again")
        if time.monotonic() >= self.next_relay:
            self.next_relay = time.monotonic() + OUTBOX_RELAY_INTERVAL
            relay_outbox(send=submit_payload_rollback_unsafe)
            close_old_connections()
        return not self.stopping

    def request_stop(self, signum: int, frame: Any) -> None:
        logger.info("signal %d: stopping after the current job", signum)
        self.stopping = True

    def run_job(self, worker: Any, job: Any) -> str:
        # Each job gets a fresh context: nothing set by one job reaches the next.
        return contextvars.Context().run(self._run_job, job)

    def _run_job(self, job: Any) -> str:
        function = job.task.decode() if isinstance(job.task, bytes) else job.task
        raw = job.data.decode(errors="replace") if isinstance(job.data, bytes) else str(job.data)
        try:
            payload = Payload.decode(raw)
        except PayloadError as exc:
            logger.error("job %s has a bad payload: %s", function, exc)
            self._park(function, Payload(job_id="", request_id="-", args={"raw": raw[:10_000]}), str(exc))
            return "parked"
        token = request_id_var.set(payload.request_id)
        try:
            return self._attempt(function, payload)
        finally:
            request_id_var.reset(token)

    def _attempt(self, function: str, payload: Payload) -> str:
        registered = REGISTRY[function]
        ctx = JobContext(
            function=function,
            job_id=payload.job_id,
            request_id=payload.request_id,
            worker_id=self.worker_id,
            attempt=payload.attempt,
            max_attempts=registered.max_attempts,
        )
        started = time.perf_counter()
        close_old_connections()
        try:
            registered.run(payload.args, ctx)
        except Exception as exc:
            elapsed = (time.perf_counter() - started) * 1000
            parked = isinstance(exc, PermanentJobError) or ctx.last_attempt
            capture_job_failure(exc, ctx=ctx, parked=parked)
            if parked:
                logger.exception(
                    "job %s %s failed on attempt %d/%d in %.1fms: parked as a dead letter",
                    function, payload.job_id, payload.attempt, registered.max_attempts, elapsed,
                )  # fmt: skip
                self._park(function, payload, "".join(traceback.format_exception(exc)))
                return "parked"
            delay = retry.backoff_seconds(payload.attempt)
            logger.warning(
                "job %s %s failed on attempt %d/%d in %.1fms (%s: %s): retrying in %.1fs",
                function, payload.job_id, payload.attempt, registered.max_attempts, elapsed,
                type(exc).__name__, exc, delay,
            )  # fmt: skip
            try:
                retry.schedule_retry(function=function, payload=payload.next_attempt(), delay=delay)
            except Exception as record_exc:
                raise OutcomeNotRecorded(f"cannot schedule the retry: {record_exc}") from exc
            return "retrying"
        finally:
            close_old_connections()
        logger.info(
            "job %s %s done in %.1fms (attempt %d)",
            function, payload.job_id, (time.perf_counter() - started) * 1000, payload.attempt,
        )  # fmt: skip
        return "ok"

    def _park(self, function: str, payload: Payload, error: str) -> None:
        try:
            do_park_job(function=function, payload=payload, error=error, worker=self.worker_id)
        except Exception as exc:
            raise OutcomeNotRecorded(f"cannot park the job as a dead letter: {exc}") from exc


def work_forever(servers: list[str], *, poll_timeout: float = 1.0) -> None:
    """Serve every registered job function until SIGTERM or SIGINT."""
    worker = Worker(servers)
    signal.signal(signal.SIGTERM, worker.request_stop)
    signal.signal(signal.SIGINT, worker.request_stop)
    logger.info(
        "worker %s serving %s on %s", worker.worker_id, ", ".join(sorted(REGISTRY)), ", ".join(servers)
    )
    while not worker.stopping:
        try:
            worker.work(poll_timeout=poll_timeout)
        except gearman.errors.ServerUnavailable:
            logger.warning("no gearmand reachable at %s; retrying", ", ".join(servers))
            time.sleep(1)
        except OutcomeNotRecorded as exc:
            # Leave without acknowledging: gearmand hands the job to another worker.
            logger.critical("worker %s exiting without finishing its job: %s", worker.worker_id, exc)
            sys.exit(1)
    logger.info("worker %s stopped", worker.worker_id)
