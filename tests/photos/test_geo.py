"""The geo index in the test stack's Redis: radius, time range by ID, order, count, locations, bad points.

Each test works around its own random point in the Southern Ocean, so tests
running in parallel never find each other's media.
"""

import math
import random
import time
from collections.abc import Iterator

import pytest

from instagram import rediskeys
from instagram.redis_client import redis_primary
from photos import geo
from sharding.ids import EPOCH_MS, MAX_LOGICAL_SHARDS, SEQUENCE_BITS, SHARD_BITS
from tests.conftest import Stack

DAY = 86400
# The Earth radius Redis computes distances with (src/geohash_helper.c).
REDIS_EARTH_RADIUS_M = 6372797.560856
DISTANCES_M = [100, 900, 1200, 4900, 6000]

Point = tuple[float, float]


def media_id_at(unix_seconds: float) -> int:
    """Make an ID in the sharding layout, as a shard would have at `unix_seconds`."""
    ms = int(unix_seconds * 1000) - EPOCH_MS
    shard, sequence = random.randrange(MAX_LOGICAL_SHARDS), random.randrange(1 << SEQUENCE_BITS)
    return (ms << (SHARD_BITS + SEQUENCE_BITS)) | (shard << SEQUENCE_BITS) | sequence


def destination(center: Point, distance_m: float, bearing_deg: float) -> Point:
    """Return the point `distance_m` from `center` (latitude, longitude) on the sphere Redis uses."""
    lat1, lon1 = math.radians(center[0]), math.radians(center[1])
    bearing, angle = math.radians(bearing_deg), distance_m / REDIS_EARTH_RADIUS_M
    lat2 = math.asin(math.sin(lat1) * math.cos(angle) + math.cos(lat1) * math.sin(angle) * math.cos(bearing))
    lon2 = lon1 + math.atan2(
        math.sin(bearing) * math.sin(angle) * math.cos(lat1),
        math.cos(angle) - math.sin(lat1) * math.sin(lat2),
    )
    return math.degrees(lat2), math.degrees(lon2)


def haversine_m(a: Point, b: Point) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * REDIS_EARTH_RADIUS_M * math.asin(math.sqrt(h))


class Index:
    """Indexes media and locations for one test, and removes them afterwards."""

    def __init__(self) -> None:
        self.media: list[int] = []
        self.locations: list[int] = []

    def add_media(self, point: Point, *, posted: float) -> int:
        media_id = media_id_at(posted)
        geo.index_media(media_id=media_id, latitude=point[0], longitude=point[1])
        self.media.append(media_id)
        return media_id

    def add_location(self, point: Point) -> int:
        location_id = random.randrange(1 << 40, 1 << 50)
        geo.index_location(location_id=location_id, latitude=point[0], longitude=point[1])
        self.locations.append(location_id)
        return location_id

    def clean(self) -> None:
        for media_id in self.media:
            geo.unindex_media(media_id=media_id)
        if self.locations:
            redis_primary().zrem(rediskeys.location_geo(), *map(str, self.locations))


@pytest.fixture
def index(stack: Stack) -> Iterator[Index]:
    created = Index()
    yield created
    created.clean()


@pytest.fixture
def center() -> Point:
    return random.uniform(-58, -45), random.uniform(-179, 179)


def search(center: Point, **kwargs: float | None) -> list[int]:
    options: dict[str, float | None] = {"distance_m": 1000, "min_time": None, "max_time": None, "count": 100}
    options.update(kwargs)
    return geo.search_media(
        latitude=center[0],
        longitude=center[1],
        distance_m=int(options["distance_m"] or 0),
        min_time=options["min_time"],
        max_time=options["max_time"],
        count=int(options["count"] or 0),
    )


def test_media_within_the_distance(index: Index, center: Point) -> None:
    now = time.time()
    ids = [
        index.add_media(destination(center, d, bearing), posted=now - 60)
        for d, bearing in zip(DISTANCES_M, [0, 72, 144, 216, 288], strict=True)
    ]
    assert sorted(search(center, distance_m=1000)) == sorted(ids[:2])
    assert sorted(search(center, distance_m=5000)) == sorted(ids[:4])


def test_time_range_is_read_from_the_ids_newest_first(index: Index, center: Point) -> None:
    now = time.time()
    ages = [3600, 2 * DAY, 10 * DAY, 21 * DAY]
    hour_old, two_days, ten_days, three_weeks = (
        index.add_media(destination(center, 50 * n, 90), posted=now - age) for n, age in enumerate(ages)
    )
    assert search(center) == [hour_old, two_days]  # the last 7 days by default
    assert search(center, min_time=now - 22 * DAY) == [hour_old, two_days, ten_days, three_weeks]
    assert search(center, min_time=now - 11 * DAY, max_time=now - 9 * DAY) == [ten_days]
    assert search(center, max_time=now - 2.5 * DAY) == []  # min_time defaults to 7 days before max_time
    assert search(center, max_time=now - 9 * DAY) == [ten_days]
    assert search(center, max_time=now + 10 * 365 * DAY) == []  # 7 days ending in the future
    assert search(center, min_time=now - 3 * DAY, max_time=now + 10 * 365 * DAY) == [hour_old, two_days]


def test_count_keeps_the_newest(index: Index, center: Point) -> None:
    now = time.time()
    ids = [index.add_media(destination(center, 10 * n, 0), posted=now - n * 3 * DAY) for n in range(6)]
    newest_first = sorted(ids, reverse=True)
    assert search(center, min_time=now - 20 * DAY, count=3) == newest_first[:3]
    assert search(center, min_time=now - 20 * DAY, count=1) == newest_first[:1]
    assert search(center, min_time=now - 20 * DAY) == newest_first


def test_long_ranges_read_only_the_newest_weeks(index: Index, center: Point) -> None:
    now = time.time()
    recent = index.add_media(center, posted=now - DAY)
    index.add_media(center, posted=now - (7 * geo.MAX_WEEKS + 1) * DAY)
    assert search(center, min_time=now - 60 * DAY) == [recent]


def test_unindex_removes_and_a_pipeline_defers(index: Index, center: Point) -> None:
    now = time.time()
    kept = index.add_media(center, posted=now - 60)
    removed = index.add_media(destination(center, 10, 0), posted=now - 30)
    geo.unindex_media(media_id=removed)
    assert search(center) == [kept]

    pipe = redis_primary().pipeline(transaction=True)
    queued = media_id_at(now - 10)
    index.media.append(queued)
    geo.index_media(media_id=queued, latitude=center[0], longitude=center[1], pipe=pipe)
    assert search(center) == [kept]
    pipe.execute()
    assert search(center) == [queued, kept]


def test_locations_nearest_first_with_their_distances(index: Index, center: Point) -> None:
    points = [destination(center, d, 45 * n) for n, d in enumerate(DISTANCES_M)]
    ids = [index.add_location(point) for point in reversed(points)][::-1]
    found = geo.search_locations(latitude=center[0], longitude=center[1], distance_m=5000, count=10)
    assert [location_id for location_id, _ in found] == ids[:4]
    for (_, distance), point in zip(found, points, strict=False):
        assert distance == pytest.approx(haversine_m(center, point), abs=1)
    nearest = geo.search_locations(latitude=center[0], longitude=center[1], distance_m=1000, count=1)
    assert [location_id for location_id, _ in nearest] == ids[:1]


def test_polar_points_are_accepted_and_indexed_at_the_limit(index: Index) -> None:
    longitude = random.uniform(-179, 179)
    media_id = index.add_media((89.5, longitude), posted=time.time())
    assert geo.search_media(
        latitude=90, longitude=longitude, distance_m=10, min_time=None, max_time=None, count=5
    ) == [media_id]


@pytest.mark.parametrize(
    ("latitude", "longitude", "message"),
    [
        (91, 0, "latitude must be between -90 and 90"),
        (-90.5, 0, "latitude must be between -90 and 90"),
        (math.nan, 0, "latitude must be between -90 and 90"),
        (math.inf, 0, "latitude must be between -90 and 90"),
        (0, 181, "longitude must be between -180 and 180"),
        (0, -math.inf, "longitude must be between -180 and 180"),
        (0, math.nan, "longitude must be between -180 and 180"),
    ],
)
def test_points_off_earth_are_refused(latitude: float, longitude: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        geo.validate_point(latitude, longitude)
    with pytest.raises(ValueError, match=message):
        geo.index_media(media_id=media_id_at(time.time()), latitude=latitude, longitude=longitude)


def test_the_edges_of_the_map_are_on_earth() -> None:
    geo.validate_point(90, -180)
    geo.validate_point(-90, 180)


def test_bad_searches_are_refused(center: Point) -> None:
    with pytest.raises(ValueError, match="distance must be between 1 and 5000 meters"):
        search(center, distance_m=geo.MAX_DISTANCE_M + 1)
    with pytest.raises(ValueError, match="distance must be between 1 and 5000 meters"):
        geo.search_locations(latitude=center[0], longitude=center[1], distance_m=0, count=1)
    with pytest.raises(ValueError, match="min_timestamp must not be after max_timestamp"):
        search(center, min_time=time.time(), max_time=time.time() - DAY)
    with pytest.raises(ValueError, match="must be Unix times"):
        search(center, min_time=math.nan)
    with pytest.raises(ValueError, match="count must be positive"):
        search(center, count=0)
