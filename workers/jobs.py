"""Job payloads and the registry of handlers that workers serve.

A payload is small versioned JSON: `{"v": 1, "id": ..., "request_id": ...,
"attempt": 1, "args": {...}}`, with args made of IDs and plain values, never
model instances. It is encoded in the submitting request, so a bad payload
fails there and not later on a worker.

A handler that raises is retried with exponential backoff (workers.retry)
until its function's `max_attempts`; then the job is parked as a dead letter
(workers.models.DeadJob) for an operator to read and replay. A handler that
knows retrying cannot help raises PermanentJobError and is parked at once.
"""

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from instagram.requestid import request_id_var

PAYLOAD_VERSION = 1

JobArgs = dict[str, Any]


DEFAULT_MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class JobContext:
    """What a handler knows about the job it runs besides its args."""

    function: str
    job_id: str
    request_id: str
    worker_id: str
    attempt: int = 1
    max_attempts: int = DEFAULT_MAX_ATTEMPTS

    @property
    def last_attempt(self) -> bool:
        """True when a failure now parks the job instead of retrying it."""
        return self.attempt >= self.max_attempts


Handler = Callable[[JobArgs, JobContext], None]


@dataclass(frozen=True)
class Registered:
    handler: Handler
    max_attempts: int


REGISTRY: dict[str, Registered] = {}


class PayloadError(ValueError):
    """A payload that cannot be encoded or decoded."""


class PermanentJobError(Exception):
    """Raised by a handler when retrying cannot help: the job goes straight to the dead letters."""


def job_handler(function: str, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of Gearman `function`.

    Handlers must be idempotent: a job may run twice (a retry after a partial
    failure, a worker killed mid-job, a replayed dead letter).
    """

    def register(handler: Handler) -> Handler:
        if function in REGISTRY:
            raise ValueError(f"two handlers for job function {function}")
        REGISTRY[function] = Registered(handler, max_attempts)
        return handler

    return register


@dataclass(frozen=True)
class Payload:
    job_id: str
    request_id: str
    args: JobArgs
    attempt: int = 1

    def next_attempt(self) -> "Payload":
        return Payload(self.job_id, self.request_id, self.args, self.attempt + 1)

    def encode(self) -> str:
        body = {
            "v": PAYLOAD_VERSION,
            "id": self.job_id,
            "request_id": self.request_id,
            "attempt": self.attempt,
            "args": self.args,
        }
        try:
            return json.dumps(body, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise PayloadError(f"job args are not plain JSON: {exc}") from exc

    @classmethod
    def decode(cls, data: bytes | str) -> "Payload":
        try:
            body = json.loads(data)
        except (TypeError, ValueError) as exc:
            raise PayloadError(f"job payload is not JSON: {exc}") from exc
        if not isinstance(body, dict) or body.get("v") != PAYLOAD_VERSION:
            raise PayloadError(f"unsupported job payload version: {str(body)[:80]}")
        args = body.get("args")
        if not isinstance(args, dict):
            raise PayloadError("job payload has no args object")
        attempt = body.get("attempt", 1)
        if not isinstance(attempt, int) or attempt < 1:
            raise PayloadError(f"job payload has a bad attempt number: {attempt!r}")
        return cls(
            job_id=str(body.get("id", "")),
            request_id=str(body.get("request_id", "-")),
            args=args,
            attempt=attempt,
        )


def new_payload(args: JobArgs) -> Payload:
    """Build a payload for `args`, stamped with a fresh job id and the current request id."""
    return Payload(job_id=uuid.uuid4().hex, request_id=request_id_var.get(), args=args)
