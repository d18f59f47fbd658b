"""The worker loop: takes jobs from gearmand and runs the registered handlers."""

import contextvars
import logging
import os
import signal
import socket
import time
from typing import Any

import python3_gearman
from django.db import close_old_connections

from instagram.requestid import request_id_var
from workers.jobs import REGISTRY, JobContext, Payload, PayloadError

logger = logging.getLogger("workers.job")


class Worker(python3_gearman.GearmanWorker):  # type: ignore[misc]
    """A GearmanWorker that stops between jobs after SIGTERM or SIGINT."""

    def __init__(self, servers: list[str]) -> None:
        super().__init__(servers)
        self.stopping = False
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.set_client_id(self.worker_id)
        for function in REGISTRY:
            self.register_task(function, self.run_job)

    def after_poll(self, any_activity: bool) -> bool:
        return not self.stopping

    def request_stop(self, signum: int, frame: Any) -> None:
        logger.info("signal %d: stopping after the current job", signum)
        self.stopping = True

    def run_job(self, worker: Any, job: Any) -> str:
        # Each job gets a fresh context: nothing set by one job reaches the next.
        return contextvars.Context().run(self._run_job, job)

    def _run_job(self, job: Any) -> str:
        """Decode one job, run its handler with the submitting request's id, log the outcome."""
        function = job.task.decode() if isinstance(job.task, bytes) else job.task
        try:
            payload = Payload.decode(job.data)
        except PayloadError:
            logger.exception("dropping job %s with a bad payload", function)
            raise
        token = request_id_var.set(payload.request_id)
        started = time.perf_counter()
        close_old_connections()
        try:
            ctx = JobContext(
                function=function,
                job_id=payload.job_id,
                request_id=payload.request_id,
                worker_id=self.worker_id,
            )
            REGISTRY[function](payload.args, ctx)
            logger.info(
                "job %s %s done in %.1fms", function, payload.job_id, (time.perf_counter() - started) * 1000
            )
            return "ok"
        except Exception:
            logger.exception("job %s %s failed", function, payload.job_id)
            raise
        finally:
            close_old_connections()
            request_id_var.reset(token)


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
        except python3_gearman.errors.ServerUnavailable:
            logger.warning("no gearmand reachable at %s; retrying", ", ".join(servers))
            time.sleep(1)
    logger.info("worker %s stopped", worker.worker_id)
