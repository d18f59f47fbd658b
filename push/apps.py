from django.apps import AppConfig


class PushConfig(AppConfig):
    name = "push"
    verbose_name = "Push notifications over APNS"

    def ready(self) -> None:
        # Registers the job handlers this app serves.
        from push import handlers  # noqa: F401
