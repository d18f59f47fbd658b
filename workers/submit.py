"""Submitting background jobs to gearmand, only ever after commit.

`submit_job_on_commit` is the one way application code queues work: the
job is written into the outbox (workers.outbox) in the transaction on
`using`, and goes out when that transaction commits, never if it rolls back.
The immediate variant is named `..._rollback_unsafe` so that any call that
skips the transaction is visible as such where it is made.

Every talk with gearmand is bounded (connect and submit timeouts): a
black-holed job server costs a request a few seconds, not gunicorn's timeout,
and the job waits in the outbox for the relay.
"""

import logging
import socket
import threading
from functools import partial
from typing import Any

import gearman
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction
from gearman.connection import GearmanConnection

from workers.jobs import REGISTRY, JobArgs, Payload, new_payload
from workers.outbox import outbox_add, outbox_remove

logger = logging.getLogger(__name__)

_local = threading.local()

CONNECT_TIMEOUT_SECONDS = 1.0
SUBMIT_TIMEOUT_SECONDS = 2.0


class BoundedConnection(GearmanConnection):  # type: ignore[misc]
    """A GearmanConnection whose connect() gives up after CONNECT_TIMEOUT_SECONDS.

    gearman connects with a blocking socket and no timeout: a gearmand
    that accepts nothing (black-holed, SIGSTOPped with a full backlog) would
    hold the request until gunicorn kills it. The socket turns non-blocking
    right after (set_socket), and submit_job's poll_timeout bounds the rest.
    """

    def _create_client_socket(self) -> None:
        try:
            client_socket = socket.create_connection(
                (self.gearman_host, self.gearman_port), timeout=CONNECT_TIMEOUT_SECONDS
            )
        except OSError as exc:
            self.throw_exception(exception=exc)
        self.set_socket(client_socket)


class BoundedClient(gearman.GearmanClient):  # type: ignore[misc]
    connection_class = BoundedConnection


def _client() -> Any:
    # A GearmanClient is not thread-safe; gunicorn's gthread workers get one each.
    client = getattr(_local, "client", None)
    if client is None:
        client = BoundedClient(settings.GEARMAN_SERVERS)
        _local.client = client
    return client


def submit_job_on_commit(function: str, args: JobArgs, *, using: str = DEFAULT_DB_ALIAS) -> str:
    """Queue `function(args)` to run on a worker once the transaction on `using` commits.

    The job's outbox row is written on `using` now, in the open transaction,
    so it commits or rolls back with the write that causes it. Outside an
    atomic block the row is committed and the job submitted at once, as
    Django runs on_commit callbacks immediately in autocommit mode. Returns
    the job id.
    """
    payload = _checked_payload(function, args)
    row_id = outbox_add(using=using, function=function, payload=payload)
    send = partial(_send_from_outbox, using, row_id, function, payload)
    transaction.on_commit(send, using=using, robust=True)
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


def _send(function: str, payload: Payload) -> None:
    client = _client()
    try:
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
    except Exception:
        _local.client = None  # a half-used connection is not reused: a fresh one next time
        raise
    if request.timed_out:
        _local.client = None
        raise TimeoutError(f"gearmand did not accept the job within {SUBMIT_TIMEOUT_SECONDS}s")
    logger.info("submitted job %s %s (attempt %d)", function, payload.job_id, payload.attempt)
