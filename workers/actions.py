"""Writes about jobs themselves: parking dead letters and replaying them."""

from django.db import transaction
from django.utils import timezone

from workers.jobs import Payload
from workers.models import DeadJob
from workers.transport import submit_payload_rollback_unsafe


def do_park_job(*, function: str, payload: Payload, error: str, worker: str) -> DeadJob:
    """Keep a job that will not be retried, with its last error, for an operator."""
    return DeadJob.objects.using("default").create(
        function=function,
        job_id=payload.job_id,
        request_id=payload.request_id[:64],
        args=payload.args,
        attempts=payload.attempt,
        error=error[-20_000:],
        worker=worker[:255],
    )


def do_replay_dead_job(*, dead_job: DeadJob) -> None:
    """Submit the parked job again as attempt 1, same job id, and note the replay.

    The row is locked so two operators replaying at once submit it once.
    """
    if not dead_job.job_id:
        raise ValueError(f"dead job {dead_job.pk} had an unreadable payload: there is nothing to replay")
    with transaction.atomic(using="default"):
        locked = DeadJob.objects.using("default").select_for_update().get(pk=dead_job.pk)
        payload = Payload(job_id=locked.job_id, request_id=locked.request_id, args=locked.args)
        submit_payload_rollback_unsafe(locked.function, payload)
        locked.replayed_at = timezone.now()
        locked.replay_count += 1
        locked.save(update_fields=["replayed_at", "replay_count"])
