from django.apps import AppConfig


class PhotosConfig(AppConfig):
    name = "photos"
    verbose_name = "Photos: upload, storage, media"

    def ready(self) -> None:
        # Registers the job handlers this app serves.
        from photos import handlers  # noqa: F401
