"""Submitting background jobs to gearmand, only ever after commit.

`submit_job_on_commit` is the one way application code queues work: the
job is written into the outbox (workers.outbox) in the transaction on
`using`, and goes out when that transaction commits, never if it rolls back.
The immediate variant is named `..._rollback_unsafe` so that any call that
skips the transaction is visible as such where it is made.

The talk with gearmand itself is workers.transport's: bounded, so a
black-holed job server costs a request a few seconds and the job waits in
the outbox for the relay.
"""

import logging
from functools import partial

from django.db import DEFAULT_DB_ALIAS, transaction

from workers.jobs import REGISTRY, JobPayload, Payload, PayloadError, new_payload
from workers.outbox import outbox_add, outbox_remove
from workers.transport import send as _send

logger = logging.getLogger(__name__)


def submit_job_on_commit(job: JobPayload, *, using: str = DEFAULT_DB_ALIAS) -> str:
    """Queue `job` (its class names the Gearman function) to run once the transaction on `using` commits.

    The job's outbox row is written on `using` now, in the open transaction,
    so it commits or rolls back with the write that causes it. Outside an
    atomic block the row is committed and the job submitted at once, as
    Django runs on_commit callbacks immediately in autocommit mode. Returns
    the job id.
    """
    function, payload = _checked_payload(job)
    row_id = outbox_add(using=using, function=function, payload=payload)
    send = partial(_send_from_outbox, using, row_id, function, payload)
    transaction.on_commit(send, using=using, robust=True)
    return payload.job_id


def submit_job_rollback_unsafe(job: JobPayload) -> str:
    """Submit at once, whatever the state of any open transaction (tools and tests)."""
    function, payload = _checked_payload(job)
    _send(function, payload)
    return payload.job_id


def _checked_payload(job: JobPayload) -> tuple[str, Payload]:
    """Return the job's function and payload, failing here, in the caller, not on a worker."""
    function = job.function
    registered = REGISTRY.get(function)
    if registered is None or registered.payload_type is not type(job):
        raise ValueError(f"unknown job function {function!r} (or not {type(job).__name__}'s)")
    payload = new_payload(job.to_args())
    payload.encode()
    if type(job).from_args(payload.args) != job:
        raise PayloadError(f"{function}: {job!r:.80} does not survive its codec")
    return function, payload


def _send_from_outbox(using: str, row_id: int, function: str, payload: Payload) -> None:
    """Submit a committed job and delete its outbox row; if gearmand cannot take it, leave it to the relay."""
    try:
        _send(function, payload)
    except Exception as exc:
        logger.warning(
            "gearmand did not take job %s %s (%s); it waits in the outbox on %s",
            function, payload.job_id, exc, using,
        )  # fmt: skip
        return
    outbox_remove(using=using, row_id=row_id)
