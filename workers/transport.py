"""The Gearman transport: one bounded client per thread, and the one call that hands gearmand a job.

Every talk with gearmand is bounded (connect and submit timeouts): a
black-holed job server costs a request a few seconds, not gunicorn's timeout.
workers.submit (after commit) and workers.retry (due retries) both send
through here, so neither imports the other.
"""

import logging
import socket
import threading
from typing import Any

import gearman
from django.conf import settings
from gearman.connection import GearmanConnection

from workers.jobs import REGISTRY, Payload

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


def submit_payload_rollback_unsafe(function: str, payload: Payload) -> None:
    """Submit an already built payload at once (retries and replays of earlier jobs)."""
    if function not in REGISTRY:
        raise ValueError(f"unknown job function {function!r}")
    send(function, payload)


def send(function: str, payload: Payload) -> None:
    """Hand gearmand one job, bounded; raise when it did not take it (the outbox keeps the job).

    A thread's kept connection may be one gearmand closed by restarting:
    the client finds it broken only when it sends, and gives up at once
    (ExceededConnectionAttempts). So a kept client that fails that way is
    replaced and the job sent once more on a fresh connection, instead of
    every thread's first job after a restart waiting for the outbox relay.
    A gearmand that is really down fails the fresh try too.
    """
    kept = getattr(_local, "client", None) is not None
    try:
        _submit(_client(), function, payload)
    except (gearman.errors.ExceededConnectionAttempts, gearman.errors.ConnectionError):
        _local.client = None
        if not kept:
            raise
        _submit(_client(), function, payload)
    logger.info("submitted job %s %s (attempt %d)", function, payload.job_id, payload.attempt)


def _submit(client: Any, function: str, payload: Payload) -> None:
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
