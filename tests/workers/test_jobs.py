"""Jobs go to gearmand only after commit, run in separate worker processes,
carry the request id into the worker's log, and survive a gearmand restart."""

import json
import os
import time
import uuid

import pytest
from django.db import transaction

from instagram import rediskeys
from instagram.redis_client import redis_primary
from instagram.requestid import request_id_var
from tests.conftest import Stack, wait_for
from users.models import User
from workers import functions
from workers.jobs import Payload, PayloadError
from workers.submit import submit_job_on_commit


def ran(token: str) -> dict[str, object] | None:
    raw = redis_primary().get(rediskeys.worker_ping(token))
    return None if raw is None else json.loads(raw)


def test_job_submitted_on_commit_runs_in_a_separate_worker_process(stack: Stack) -> None:
    token = uuid.uuid4().hex
    with transaction.atomic():
        User.objects.create(username=f"job_{token[:12]}")
        submit_job_on_commit(functions.PING, {"token": token})
        assert ran(token) is None  # nothing leaves before the commit
    record = wait_for(lambda: ran(token))
    assert record["pid"] != os.getpid()
    worker_pids = stack.ctl("pid", "worker:worker-0", "worker:worker-1").split()
    assert str(record["pid"]) in worker_pids


def test_job_submitted_in_a_rolled_back_transaction_never_runs(stack: Stack) -> None:
    lost, later = uuid.uuid4().hex, uuid.uuid4().hex

    def submit_then_fail() -> None:
        with transaction.atomic():
            submit_job_on_commit(functions.PING, {"token": lost})
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        submit_then_fail()
    submit_job_on_commit(functions.PING, {"token": later})
    # gearmand hands out one function's jobs in submission order: had the
    # rolled-back job been submitted, a worker would have taken it first.
    wait_for(lambda: ran(later))
    time.sleep(0.5)
    assert ran(lost) is None


def test_worker_logs_the_job_with_the_submitting_request_id(stack: Stack) -> None:
    token, request_id = uuid.uuid4().hex, f"req-{uuid.uuid4().hex[:16]}"
    reset = request_id_var.set(request_id)
    try:
        job_id = submit_job_on_commit(functions.PING, {"token": token})
    finally:
        request_id_var.reset(reset)
    assert wait_for(lambda: ran(token))["request_id"] == request_id
    log = stack.log / "worker.log"
    line = wait_for(lambda: next((ln for ln in log.read_text().splitlines() if job_id in ln), None))
    assert f"[{request_id}]" in line
    assert "done in" in line


def test_bad_payload_fails_in_the_caller_not_on_a_worker() -> None:
    with pytest.raises(PayloadError):
        submit_job_on_commit(functions.PING, {"token": object()})
    with pytest.raises(ValueError, match="unknown job function"):
        submit_job_on_commit("instagram.nope.v1", {})
    with pytest.raises(PayloadError):
        Payload.decode('{"v": 99, "args": {}}')


@pytest.mark.disruptive
def test_queued_job_survives_a_gearmand_restart(stack: Stack) -> None:
    token = uuid.uuid4().hex
    with stack.stopped("worker:*"):
        job_id = submit_job_on_commit(functions.PING, {"token": token})
        stack.ctl("restart", "gearmand")
        assert ran(token) is None
    record = wait_for(lambda: ran(token), timeout=20)
    assert record["job_id"] == job_id
