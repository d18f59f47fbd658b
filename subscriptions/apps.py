from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    name = "subscriptions"
    verbose_name = "Real-time subscriptions (v1)"

    def ready(self) -> None:
        # Registers the job handlers this app serves.
        from subscriptions import handlers  # noqa: F401
