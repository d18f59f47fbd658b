from django.db import models


class ClientLimit(models.Model):
    """Hourly limits granted to one API client instead of the defaults (a partner app, a test client)."""

    application = models.OneToOneField(
        "oauth2_provider.Application", on_delete=models.CASCADE, related_name="limit"
    )
    requests_per_hour = models.PositiveIntegerField()
    writes_per_hour = models.PositiveIntegerField()

    class Meta:
        db_table = "ratelimits_client_limit"

    def __str__(self) -> str:
        return f"{self.application}: {self.requests_per_hour}/h, {self.writes_per_hour} writes/h"
