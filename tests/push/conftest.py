"""Helpers for the push tests: device tokens, the APNS sandbox's request log, job outcomes."""

import secrets
from typing import Any

from push.handlers import apns_id
from push.models import Device
from sandboxes.records import read
from tests.conftest import Stack, wait_for
from tests.v1 import Account
from workers import functions


def device_token(prefix: str = "a1") -> str:
    """Return a fresh APNS device token; its prefix chooses the sandbox's answer (sandboxes.apns)."""
    return (prefix + secrets.token_hex(32))[:64]


def register(account: Account, token: str) -> dict[str, Any]:
    """Register `token` as `account`'s phone through the API; return the device object."""
    response = account.post("users/self/devices", token=token)
    assert response.status_code in (200, 201), response.text
    device: dict[str, Any] = response.json()["data"]
    return device


def pushes_to(stack: Stack, token: str, *, job_id: str | None = None) -> list[dict[str, Any]]:
    """Return the requests the APNS sandbox received for `token` (from job `job_id` only), oldest first.

    A job's push to a device carries an apns-id made of the job's and the
    device's ids, so the pushes of the actions' own jobs (a follow pushes
    too) are told apart from a test's.
    """
    entries = [entry for entry in read(stack.profile.var / "sandbox", "apns") if entry["token"] == token]
    if job_id is None:
        return entries
    wanted = apns_id(notification=f"job:{job_id}", device_id=Device.objects.get(token=token).id)
    return [entry for entry in entries if entry["apns_id"] == wanted]


def wait_for_pushes(
    stack: Stack, token: str, *, job_id: str | None = None, count: int = 1
) -> list[dict[str, Any]]:
    """Wait until the sandbox has `count` requests for `token` (from job `job_id`); return them."""

    def found() -> list[dict[str, Any]] | None:
        entries = pushes_to(stack, token, job_id=job_id)
        return entries if len(entries) >= count else None

    return wait_for(found)


def job_attempt_ended(stack: Stack, job_id: str, attempt: int = 1) -> str:
    """Wait until a worker logged how `job_id`'s attempt ended (done, retrying, parked); return the line."""

    def ended() -> str | None:
        for line in (stack.log / "worker.log").read_text().splitlines():
            if f"workers.job: job {functions.PUSH} {job_id} " not in line:
                continue
            if f"(attempt {attempt})" in line or f"failed on attempt {attempt}/" in line:
                return line
        return None

    return wait_for(ended)
