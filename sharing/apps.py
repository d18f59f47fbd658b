from django.apps import AppConfig


class SharingConfig(AppConfig):
    name = "sharing"
    verbose_name = "Sharing to Twitter and Facebook"

    def ready(self) -> None:
        # Registers the job handlers this app serves.
        from sharing import handlers  # noqa: F401
