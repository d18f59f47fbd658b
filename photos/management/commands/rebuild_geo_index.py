from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from instagram.redis_client import redis_primary
from photos import geo
from photos.models import Location, Media
from sharding.selectors import scan_shards


class Command(BaseCommand):
    help = (
        "Write every located media and every location into the Redis geo index, read from PostgreSQL "
        "(after a Redis loss). Safe while the site runs: it only adds points, each where its row says."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=5000, help="rows read per query and pipeline")

    def handle(self, *args: Any, **options: Any) -> None:
        client = redis_primary()
        places = 0
        for place in Location.objects.order_by("id").iterator(chunk_size=options["batch"]):
            geo.index_location(location_id=place.id, latitude=place.latitude, longitude=place.longitude)
            places += 1
        media = 0
        located = Media.objects.filter(latitude__isnull=False, longitude__isnull=False)
        label = "rebuilding the geo index"
        for rows in scan_shards(located, "id", "latitude", "longitude", batch=options["batch"], label=label):
            pipe = client.pipeline(transaction=False)
            for media_id, latitude, longitude in rows:
                geo.index_media(media_id=media_id, latitude=latitude, longitude=longitude, pipe=pipe)
            pipe.execute()
            media += len(rows)
        self.stdout.write(f"geo index: {places} locations and {media} media written")
