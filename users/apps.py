from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"
    verbose_name = "Users and accounts"

    def ready(self) -> None:
        # Registers the job handlers this app serves.
        from users import handlers  # noqa: F401
