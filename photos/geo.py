"""The geo index: media and locations near a point, in Redis GEO sets.

Why Redis: GEOADD/GEOSEARCH keep points in sorted sets scored by a 52-bit
geohash (about 0.6 m of precision), answer radius queries nearest first
with exact haversine distances, and need nothing the stack does not already
run. PostGIS is not installed, and Instagram's 2011 answer (Solr) would be
another server to operate for one query.

Media are indexed by the week they were posted in (`rediskeys.media_geo`,
week = days since the Unix epoch // 7, read from the ID's time bits), so a
time-bounded search only reads the weeks its range overlaps, and an old
week can be dropped or rebuilt as one key. Locations live in one set
(`rediskeys.location_geo`). Nothing here reads the database: a media's time
is in its ID.

Redis GEO only stores latitudes within ±85.05112878° (the Web Mercator
limit). The API accepts the full ±90° range and indexes and searches a
point beyond the limit at the limit, on its own meridian: only the polar
caps (the Arctic Ocean, inner Antarctica) are affected, and there distances
are approximate.

Reads go to the primary, like the writes, so a photo is findable as soon
as it is indexed.
"""

import math
import time
from typing import Any, cast

import redis

from instagram import rediskeys
from instagram.errors import APIInvalidParametersError
from instagram.parameters import required
from instagram.redis_client import redis_primary
from sharding.ids import MAX_LOGICAL_SHARDS, decode_id

MAX_DISTANCE_M = 5000
DEFAULT_DISTANCE_M = 1000
DEFAULT_SPAN_S = 7 * 86400
# /v1/media/search's window, as v1 documented it: 5 days unless asked, 7 at most (photos.views).
SEARCH_DEFAULT_SPAN_S = 5 * 86400
SEARCH_MAX_SPAN_S = 7 * 86400
# The most week sets one media search reads: any range of up to 4 weeks fits.
# A longer range gets the newest media of its last MAX_WEEKS weeks, which is
# what a newest-first page shows anyway, at a bounded cost.
MAX_WEEKS = 5
# The nearest this many media of each week within the radius are considered,
# so a search in a dense place (a stadium, Times Square) costs a bounded
# reply; there, the answer is the newest of the nearest 1000 a week.
CANDIDATES_PER_WEEK = 1000
MAX_INDEX_LATITUDE = 85.05112878

WEEK_MS = 7 * 86_400_000


def validate_point(latitude: float, longitude: float) -> None:
    """Raise ValueError, with a message for the client, unless the point is on Earth."""
    # Written so that NaN fails too: every comparison with NaN is false.
    if not -90 <= latitude <= 90:
        raise ValueError("latitude must be between -90 and 90")
    if not -180 <= longitude <= 180:
        raise ValueError("longitude must be between -180 and 180")


def point_param(values: dict[str, str]) -> tuple[float, float]:
    """Return the required `lat` and `lng` parameters as a point on Earth, or raise naming the problem."""
    lat, lng = required(values, "lat", "lng")
    try:
        latitude, longitude = float(lat), float(lng)
    except ValueError:
        raise APIInvalidParametersError("lat and lng must be numbers.") from None
    try:
        validate_point(latitude, longitude)
    except ValueError as exc:
        raise APIInvalidParametersError(f"{exc}.") from None
    return latitude, longitude


def _lonlat(latitude: float, longitude: float) -> tuple[float, float]:
    """Return the point as Redis stores it: validated, latitude clamped to what GEO supports."""
    validate_point(latitude, longitude)
    return longitude, max(-MAX_INDEX_LATITUDE, min(MAX_INDEX_LATITUDE, latitude))


def _validate_distance(distance_m: int) -> None:
    if not 0 < distance_m <= MAX_DISTANCE_M:
        raise ValueError(f"distance must be between 1 and {MAX_DISTANCE_M} meters")


def _posted_ms(media_id: int) -> int:
    """Return the Unix time in ms at which `media_id` was made (its top 41 bits)."""
    return decode_id(media_id, logical_shards=MAX_LOGICAL_SHARDS).timestamp_ms


def _week(unix_ms: float) -> int:
    return int(unix_ms // WEEK_MS)


def index_media(
    *, media_id: int, latitude: float, longitude: float, pipe: redis.client.Pipeline | None = None
) -> None:
    """Add `media_id` at the point to the set of the week it was posted in.

    With `pipe`, queue the command there (the caller executes it with its
    other writes); otherwise run it now. Indexing again moves the media.
    """
    lon, lat = _lonlat(latitude, longitude)
    client = redis_primary() if pipe is None else pipe
    client.geoadd(rediskeys.media_geo(_week(_posted_ms(media_id))), [lon, lat, str(media_id)])


def unindex_media(*, media_id: int, pipe: redis.client.Pipeline | None = None) -> None:
    """Remove `media_id` from the geo index (its week is read from the ID); no error if it is absent."""
    client = redis_primary() if pipe is None else pipe
    client.zrem(rediskeys.media_geo(_week(_posted_ms(media_id))), str(media_id))


def is_indexed(*, media_id: int) -> bool:
    """Say whether `media_id` is in the geo index (the verify command of account deletions)."""
    return redis_primary().zscore(rediskeys.media_geo(_week(_posted_ms(media_id))), str(media_id)) is not None


def search_media_near(
    *,
    latitude: float,
    longitude: float,
    distance_m: int,
    min_time: float | None,
    max_time: float | None,
    count: int,
) -> list[tuple[int, float]]:
    """Return up to `count` (media id, distance in m) within `distance_m` of the point, newest first.

    The media are those posted in the range. Times are Unix seconds, both
    bounds included; max_time defaults to now and min_time to
    DEFAULT_SPAN_S before max_time. Week sets are read newest first, at
    most MAX_WEEKS of them (see there), and the search stops at the first
    week that completes `count` results: every media of a later week is
    newer than any of an earlier one. Each week contributes its
    CANDIDATES_PER_WEEK nearest media in the radius, filtered by the exact
    time in their IDs.

    Raise ValueError, with a message for the client, for a point off Earth,
    a distance over MAX_DISTANCE_M, or an empty or non-finite range.
    """
    lon, lat = _lonlat(latitude, longitude)
    _validate_distance(distance_m)
    if count < 1:
        raise ValueError("count must be positive")
    now = time.time()
    if max_time is None:
        max_time = now
    if min_time is None:
        min_time = max_time - DEFAULT_SPAN_S
    if not (math.isfinite(min_time) and math.isfinite(max_time)):
        raise ValueError("min_timestamp and max_timestamp must be Unix times")
    if min_time > max_time:
        raise ValueError("min_timestamp must not be after max_timestamp")
    min_ms, max_ms = min_time * 1000, max_time * 1000

    client = redis_primary()
    found: list[tuple[int, float]] = []
    # Nothing is posted in the future: a far-off max_time must not spend the
    # weeks read on empty sets (a minute's grace for the shards' clocks).
    last_week = _week(min(max_ms, (now + 60) * 1000))
    first_week = max(_week(min_ms), last_week - MAX_WEEKS + 1)
    for week in range(last_week, first_week - 1, -1):
        members = cast(
            list[list[Any]],
            client.geosearch(
                rediskeys.media_geo(week),
                longitude=lon,
                latitude=lat,
                radius=distance_m,
                unit="m",
                sort="ASC",
                count=CANDIDATES_PER_WEEK,
                withdist=True,
            ),
        )
        for member, meters in members:
            media_id = int(member)
            if min_ms <= _posted_ms(media_id) <= max_ms:
                found.append((media_id, float(meters)))
        if len(found) >= count:
            break
    found.sort(reverse=True)
    return found[:count]


def search_media(
    *,
    latitude: float,
    longitude: float,
    distance_m: int,
    min_time: float | None,
    max_time: float | None,
    count: int,
) -> list[int]:
    """Return the media ids of search_media_near, newest first."""
    found = search_media_near(
        latitude=latitude,
        longitude=longitude,
        distance_m=distance_m,
        min_time=min_time,
        max_time=max_time,
        count=count,
    )
    return [media_id for media_id, _ in found]


def index_location(*, location_id: int, latitude: float, longitude: float) -> None:
    """Add (or move) location `location_id` at the point."""
    lon, lat = _lonlat(latitude, longitude)
    redis_primary().geoadd(rediskeys.location_geo(), [lon, lat, str(location_id)])


def search_locations(
    *, latitude: float, longitude: float, distance_m: int, count: int
) -> list[tuple[int, float]]:
    """Return up to `count` (location id, distance in m) within `distance_m` of the point, nearest first."""
    lon, lat = _lonlat(latitude, longitude)
    _validate_distance(distance_m)
    if count < 1:
        raise ValueError("count must be positive")
    rows = cast(
        list[list[Any]],
        redis_primary().geosearch(
            rediskeys.location_geo(),
            longitude=lon,
            latitude=lat,
            radius=distance_m,
            unit="m",
            sort="ASC",
            count=count,
            withdist=True,
        ),
    )
    return [(int(member), float(distance)) for member, distance in rows]
