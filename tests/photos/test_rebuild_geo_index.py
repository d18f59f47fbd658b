"""After Redis loses the geo index, `manage.py rebuild_geo_index` puts every located photo back."""

import io
import random
from typing import Any

from django.core.management import call_command

from photos import geo
from tests.photos.images import jpeg


def test_rebuild_restores_lost_points(signup: Any) -> None:
    kevin = signup("kevin")
    lat, lng = random.uniform(-60, -45), random.uniform(-170, 170)
    media = kevin.post_photo(jpeg(200, 200), lat=str(lat), lng=str(lng), location_name="Lost and found")
    media_id = int(media["id"].partition("_")[0])
    geo.unindex_media(media_id=media_id)  # what a Redis loss does
    assert kevin.data("media/search", lat=str(lat), lng=str(lng)) == []

    out = io.StringIO()
    call_command("rebuild_geo_index", "--batch", "50", stdout=out, stderr=io.StringIO())
    assert "media written" in out.getvalue()
    assert [m["id"] for m in kevin.data("media/search", lat=str(lat), lng=str(lng))] == [media["id"]]
    nearby = geo.search_locations(latitude=lat, longitude=lng, distance_m=10, count=5)
    assert [location_id for location_id, _ in nearby] == [int(media["location"]["id"])]
