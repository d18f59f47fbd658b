from django.apps import AppConfig


class OAuthConfig(AppConfig):
    name = "oauth"
    verbose_name = "OAuth2 for third-party apps"

    def ready(self) -> None:
        from oauth.cache import connect_signals

        connect_signals()
