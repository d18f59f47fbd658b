from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from photos.storage import ensure_bucket


class Command(BaseCommand):
    help = "Create the S3 media bucket if it does not exist (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        created = ensure_bucket()
        verb = "created" if created else "already exists:"
        self.stdout.write(f"bucket {verb} {settings.S3_BUCKET}")
