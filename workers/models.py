from django.db import models


class DeadJob(models.Model):
    """A job that failed every attempt (or failed permanently), parked for an operator.

    `manage.py dead_jobs` and the admin list them and replay them: a replay
    submits the same payload (same job id, so the handler's idempotency
    holds) as attempt 1. Rows are kept after a replay, with `replayed_at`,
    until an operator purges them.
    """

    function = models.CharField(max_length=100)
    job_id = models.CharField(max_length=64, db_index=True)
    request_id = models.CharField(max_length=64, default="-")
    # The job's args, or the undecodable payload as text under "raw".
    args = models.JSONField(default=dict)
    attempts = models.PositiveIntegerField()
    error = models.TextField()
    worker = models.CharField(max_length=255, default="")
    failed_at = models.DateTimeField(auto_now_add=True)
    replayed_at = models.DateTimeField(null=True, blank=True)
    replay_count = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "workers_dead_job"
        indexes = [models.Index(fields=["function", "-failed_at"], name="dead_job_by_function")]

    def __str__(self) -> str:
        return f"{self.function} {self.job_id} ({self.attempts} attempts)"
