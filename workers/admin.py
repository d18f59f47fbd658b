from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from workers.actions import do_replay_dead_job
from workers.models import DeadJob


@admin.register(DeadJob)
class DeadJobAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "failed_at",
        "function",
        "job_id",
        "attempts",
        "last_error",
        "replayed_at",
        "replay_count",
    )
    list_filter = ("function",)
    search_fields = ("job_id", "request_id")
    readonly_fields = [field.name for field in DeadJob._meta.fields]
    actions = ["replay"]

    @admin.display(description="last error")
    def last_error(self, job: DeadJob) -> str:
        lines = job.error.strip().splitlines()
        return lines[-1][:120] if lines else ""

    @admin.action(description="Replay the selected jobs (as attempt 1)")
    def replay(self, request: HttpRequest, queryset: QuerySet[DeadJob]) -> None:
        replayed = 0
        for job in queryset:
            try:
                do_replay_dead_job(dead_job=job)
                replayed += 1
            except ValueError as exc:
                self.message_user(request, str(exc), messages.ERROR)
        self.message_user(request, f"Replayed {replayed} job(s).", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
