"""tests/jobs.py's capture: jobs an action submits are seen once they are sent, after commit only."""

import uuid

import pytest
from django.db import transaction

from tests.conftest import Stack
from tests.jobs import SubmittedJob, capture_submitted_jobs
from workers import functions
from workers.payloads import Ping
from workers.submit import submit_job_on_commit


def test_a_job_is_captured_when_its_transaction_commits_and_not_before(stack: Stack) -> None:
    token = uuid.uuid4().hex
    with capture_submitted_jobs() as jobs:
        with transaction.atomic():
            submit_job_on_commit(Ping(token=token))
            assert jobs == []  # still in the open transaction: nothing sent
        assert jobs == [SubmittedJob(functions.PING, {"token": token})]
        assert jobs[0].job == Ping(token=token)  # decoded by the codec the workers use


def test_a_rolled_back_job_is_never_captured(stack: Stack) -> None:
    token = uuid.uuid4().hex

    def submit_then_fail() -> None:
        with transaction.atomic():
            submit_job_on_commit(Ping(token=token))
            raise RuntimeError("roll back")

    with capture_submitted_jobs() as jobs, pytest.raises(RuntimeError):
        submit_then_fail()
    assert jobs == []
