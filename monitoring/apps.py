from django.apps import AppConfig
from django.conf import settings


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring and alerting"

    def ready(self) -> None:
        # Every process (gunicorn worker, Gearman worker, manage.py command)
        # reports its errors, once SENTRY_DSN names where.
        if settings.SENTRY_DSN:
            from monitoring.sentry import init_sentry

            init_sentry()
