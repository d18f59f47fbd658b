"""Job payloads and the registry of handlers that workers serve.

A payload is small versioned JSON: `{"v": 1, "id": ..., "request_id": ...,
"attempt": 1, "args": {...}}`, with args made of IDs and plain values, never
model instances. It is encoded in the submitting request, so a bad payload
fails there and not later on a worker.

The args of each job are a typed JobPayload: a frozen dataclass per job name
(the app that serves the job defines it in its `jobs.py`), encoded to args
and decoded from them here, by `encode_args` and `decode_args`, and nowhere
else. The version is the job name's (`instagram.push.v1`): a field that old
workers cannot read gets a new name. Decoding is strict, so a payload that
is not what its job name promises is parked at once, never half-run: an
unknown field, a missing one or a wrong type is a PayloadError. Ids written
as decimal strings are read as ints, as the handlers before the typed
payloads did, so a job queued by an older release still runs.

A handler that raises is retried with exponential backoff (workers.retry)
until its function's `max_attempts`; then the job is parked as a dead letter
(workers.models.DeadJob) for an operator to read and replay. A handler that
knows retrying cannot help raises PermanentJobError and is parked at once.
"""

import dataclasses
import json
import types
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self, TypeVar, Union, get_args, get_origin, get_type_hints

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


class PermanentJobError(Exception):
    """Raised by a handler when retrying cannot help: the job goes straight to the dead letters."""


class PayloadError(PermanentJobError, ValueError):
    """A payload that cannot be encoded or decoded: no attempt can run it, so it is parked at once."""


@dataclass(frozen=True, kw_only=True)
class JobPayload:
    """The typed args of one job name; subclasses are frozen, keyword-only dataclasses.

    Field types the codec knows: int, str, bool, `X | None` (None or absent:
    the default), `tuple[X, ...]` (a JSON list), a union of those, and a
    class with `as_dict()` and `from_dict()` (a news entry).
    """

    function: ClassVar[str]

    def to_args(self) -> JobArgs:
        return encode_args(self)

    @classmethod
    def from_args(cls, args: object) -> Self:
        return decode_args(cls, args)


P = TypeVar("P", bound=JobPayload)
Handler = Callable[[P, JobContext], None]


@dataclass(frozen=True)
class Registered:
    handler: Callable[[Any, JobContext], None]
    max_attempts: int
    payload_type: type[JobPayload]

    def run(self, args: JobArgs, ctx: JobContext) -> None:
        """Decode `args` into the job's payload (PayloadError when they are not) and run the handler."""
        self.handler(self.payload_type.from_args(args), ctx)


REGISTRY: dict[str, Registered] = {}


def job_handler(
    payload_type: type[P], *, max_attempts: int = DEFAULT_MAX_ATTEMPTS
) -> Callable[[Handler[P]], Handler[P]]:
    """Register the decorated function as the handler of `payload_type`'s job name.

    Handlers must be idempotent: a job may run twice (a retry after a partial
    failure, a worker killed mid-job, a replayed dead letter).
    """
    function = payload_type.function

    def register(handler: Handler[P]) -> Handler[P]:
        if function in REGISTRY:
            raise ValueError(f"two handlers for job function {function}")
        REGISTRY[function] = Registered(handler, max_attempts, payload_type)
        return handler

    return register


def encode_args(job: JobPayload) -> JobArgs:
    """Return the JSON args of `job`; a field at its default is left out (the wire's optional keys)."""
    return {
        field.name: _encode(value)
        for field in dataclasses.fields(job)
        if (value := getattr(job, field.name)) is not None and value != field.default
    }


def _encode(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_encode(item) for item in value]
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return value


# (name, type, required) of each payload class's fields, read once per class.
_FIELDS: dict[type[JobPayload], tuple[tuple[str, Any, bool], ...]] = {}


def _field_types(cls: type[JobPayload]) -> tuple[tuple[str, Any, bool], ...]:
    fields = _FIELDS.get(cls)
    if fields is None:
        hints = get_type_hints(cls)
        fields = _FIELDS[cls] = tuple(
            (
                field.name,
                hints[field.name],
                field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING,
            )
            for field in dataclasses.fields(cls)
        )
    return fields


def decode_args(cls: type[P], args: object) -> P:
    """Return `args` as a `cls`; PayloadError names the job and the field that is wrong."""
    if not isinstance(args, Mapping):
        raise PayloadError(f"{cls.function}: args are not an object")
    fields = _field_types(cls)
    unknown = sorted(set(args) - {name for name, _, _ in fields})
    if unknown:
        raise PayloadError(f"{cls.function}: unknown fields {unknown}")
    values: dict[str, Any] = {}
    for name, kind, required in fields:
        raw = args.get(name)
        if raw is None:
            if required:
                raise PayloadError(f"{cls.function}: {name} is missing")
            continue
        values[name] = _decode(kind, raw, f"{cls.function}: {name}")
    return cls(**values)


def _decode(kind: Any, raw: object, where: str) -> Any:
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        for option in get_args(kind):
            if option is not type(None):
                try:
                    return _decode(option, raw, where)
                except PayloadError:
                    continue
        raise PayloadError(f"{where}: {raw!r:.40} is not {kind}")
    if origin is tuple:
        if not isinstance(raw, list):
            raise PayloadError(f"{where}: {raw!r:.40} is not a list")
        return tuple(_decode(get_args(kind)[0], item, where) for item in raw)
    if kind is bool and isinstance(raw, bool):
        return raw
    if kind is int and isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if kind is int and isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 19:
        return int(raw)
    if kind is str and isinstance(raw, str):
        return raw
    if hasattr(kind, "from_dict") and isinstance(raw, dict):
        try:
            return kind.from_dict(raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise PayloadError(f"{where}: {exc}") from exc
    if kind in (bool, int, str) or hasattr(kind, "from_dict"):
        raise PayloadError(f"{where}: {raw!r:.40} is not {getattr(kind, '__name__', kind)}")
    raise TypeError(f"{where}: no codec for the field type {kind}")


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
