"""Capture the jobs code running in this process hands to gearmand (as Zulip's capture_send_event_calls).

A test that calls actions in-process asserts the jobs they submitted from
this list, instead of polling Redis or reading worker logs for their effects.
The jobs are still sent: the workers run them as they would.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

from workers import submit, transport
from workers.jobs import REGISTRY, JobPayload, Payload


@dataclass(frozen=True)
class SubmittedJob:
    function: str
    args: dict[str, Any]

    @property
    def job(self) -> JobPayload:
        """The args as the worker reads them: the job's typed payload."""
        return REGISTRY[self.function].payload_type.from_args(self.args)


@contextmanager
def capture_submitted_jobs() -> Iterator[list[SubmittedJob]]:
    """Yield the list of jobs gearmand accepted while the block ran, in order (after commit, not before)."""
    captured: list[SubmittedJob] = []
    send = transport.send

    def recording(function: str, payload: Payload) -> None:
        send(function, payload)
        captured.append(SubmittedJob(function, dict(payload.args)))

    # workers.submit holds its own reference to the transport's send.
    with mock.patch.object(submit, "_send", recording), mock.patch.object(transport, "send", recording):
        yield captured
