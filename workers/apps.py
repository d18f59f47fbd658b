from django.apps import AppConfig


class WorkersConfig(AppConfig):
    name = "workers"
    verbose_name = "Background jobs on Gearman"

    def ready(self) -> None:
        # Registers the job handlers this app serves.
        from workers import handlers  # noqa: F401
