from django.apps import AppConfig


class PhotosConfig(AppConfig):
    name = "photos"
    verbose_name = "Photos: upload, storage, media"

    def ready(self) -> None:
        from photos.cache import connect_signals

        connect_signals()
