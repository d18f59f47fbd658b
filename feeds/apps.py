from django.apps import AppConfig


class FeedsConfig(AppConfig):
    name = "feeds"
    verbose_name = "Feeds and news: fan-out on write, in Redis"

    def ready(self) -> None:
        # Registers the job handlers this app serves.
        from feeds import handlers  # noqa: F401
