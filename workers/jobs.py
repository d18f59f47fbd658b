"""Job payloads and the registry of handlers that workers serve.

A payload is small versioned JSON: `{"v": 1, "id": ..., "request_id": ...,
"args": {...}}`, with args made of IDs and plain values, never model
instances. It is encoded in the submitting request, so a bad payload fails
there and not later on a worker.
"""

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from instagram.requestid import request_id_var

PAYLOAD_VERSION = 1

JobArgs = dict[str, Any]


@dataclass(frozen=True)
class JobContext:
    """What a handler knows about the job it runs besides its args."""

    function: str
    job_id: str
    request_id: str
    worker_id: str


Handler = Callable[[JobArgs, JobContext], None]

REGISTRY: dict[str, Handler] = {}


class PayloadError(ValueError):
    """A payload that cannot be encoded or decoded."""


def job_handler(function: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of Gearman `function`.

    Handlers must be idempotent: a job may run twice.
    """

    def register(handler: Handler) -> Handler:
        if function in REGISTRY:
            raise ValueError(f"two handlers for job function {function}")
        REGISTRY[function] = handler
        return handler

    return register


@dataclass(frozen=True)
class Payload:
    job_id: str
    request_id: str
    args: JobArgs

    def encode(self) -> str:
        body = {"v": PAYLOAD_VERSION, "id": self.job_id, "request_id": self.request_id, "args": self.args}
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
        return cls(job_id=str(body.get("id", "")), request_id=str(body.get("request_id", "-")), args=args)


def new_payload(args: JobArgs) -> Payload:
    """Build a payload for `args`, stamped with a fresh job id and the current request id."""
    return Payload(job_id=uuid.uuid4().hex, request_id=request_id_var.get(), args=args)
