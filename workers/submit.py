"""Submitting background jobs to gearmand, only ever after commit.

`submit_job_on_commit` is the one way application code queues work: the
job goes out when the transaction on `using` commits, and never if it rolls
back. The immediate variant is named `..._rollback_unsafe` so that any call
that skips the transaction is visible as such where it is made.
"""

import logging
import threading
from functools import partial

import python3_gearman
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction

from workers.jobs import REGISTRY, JobArgs, Payload, new_payload

logger = logging.getLogger(__name__)

_local = threading.local()

SUBMIT_TIMEOUT_SECONDS = 5.0


def _client() -> python3_gearman.GearmanClient:
    # A GearmanClient is not thread-safe; gunicorn's gthread workers get one each.
    client = getattr(_local, "client", None)
    if client is None:
        client = python3_gearman.GearmanClient(settings.GEARMAN_SERVERS)
        _local.client = client
    return client


def submit_job_on_commit(function: str, args: JobArgs, *, using: str = DEFAULT_DB_ALIAS) -> str:
    """Queue `function(args)` to run on a worker once the transaction on `using` commits.

    Outside an atomic block on `using` the job is submitted at once, as Django
    runs on_commit callbacks immediately in autocommit mode. Returns the job id.
    """
    payload = _checked_payload(function, args)
    transaction.on_commit(partial(_send_or_defer, function, payload), using=using, robust=True)
    return payload.job_id


def submit_job_rollback_unsafe(function: str, args: JobArgs) -> str:
    """Submit at once, whatever the state of any open transaction (tools and tests)."""
    payload = _checked_payload(function, args)
    _send(function, payload)
    return payload.job_id


def submit_payload_rollback_unsafe(function: str, payload: Payload) -> None:
    """Submit an already built payload at once (retries and replays of earlier jobs)."""
    if function not in REGISTRY:
        raise ValueError(f"unknown job function {function!r}")
    _send(function, payload)


def _checked_payload(function: str, args: JobArgs) -> Payload:
    if function not in REGISTRY:
        raise ValueError(f"unknown job function {function!r}")
    payload = new_payload(args)
    payload.encode()  # fail in the caller, not on a worker
    return payload


def _send_or_defer(function: str, payload: Payload) -> None:
    """Submit after commit; if gearmand cannot take it now, keep it with the retries (workers.retry).

    The workers move it into gearmand once it is back. Only when Redis is
    unreachable too is the job lost, and the log says which.
    """
    from workers.retry import schedule_retry

    try:
        _send(function, payload)
    except Exception as exc:
        _local.client = None  # a fresh connection next time
        try:
            schedule_retry(function=function, payload=payload, delay=settings.JOB_RETRY_SECONDS)
        except Exception:
            logger.exception(
                "LOST job %s %s: gearmand (%s) and Redis both failed", function, payload.job_id, exc
            )
            raise
        logger.warning(
            "gearmand did not take job %s %s (%s); deferred to the retries", function, payload.job_id, exc
        )


def _send(function: str, payload: Payload) -> None:
    client = _client()
    request = client.submit_job(
        function,
        payload.encode(),
        # Per attempt: gearmand merges jobs with one unique key while one is queued
        # or running, and a retry may be pumped before its failed attempt says so.
        unique=f"{payload.job_id}:{payload.attempt}",
        background=True,
        wait_until_complete=False,
        poll_timeout=SUBMIT_TIMEOUT_SECONDS,
    )
    if request.timed_out:
        raise TimeoutError(f"gearmand did not accept the job within {SUBMIT_TIMEOUT_SECONDS}s")
    logger.info("submitted job %s %s (attempt %d)", function, payload.job_id, payload.attempt)
