"""v1 media endpoints: upload, media, likes, comments, a user's recent and liked media."""

import time
from datetime import UTC, datetime, timedelta
from typing import cast

from django.http import HttpRequest, JsonResponse

from instagram.api import APIRequest, api_endpoint, next_url, params, require_first_party, require_scope
from instagram.errors import APIInvalidParametersError, APINotFoundError, envelope
from instagram.parameters import count_param, id_param, int_param, is_digits, required
from photos import geo, popular
from photos.actions import (
    check_comment_media,
    check_delete_comment,
    check_delete_media,
    check_like_media,
    check_photo_size,
    check_upload_media,
    check_upload_video,
)
from photos.cache import LocationCard, MediaCard, location_card
from photos.indexes import location_media_ids, search_tags, tag_info, tag_media_ids
from photos.models import Location
from photos.places import external_ids, locations_with
from photos.refs import media_id_from_shortcode
from photos.selectors import (
    access_media,
    access_media_and_owner,
    comment_object,
    comment_objects,
    comments_on,
    first_visible_cards,
    liked_media_page,
    likers_of,
    media_objects,
    recent_media_ids,
    short_user,
    visible_cards,
)
from photos.text import fold_tag, is_valid_tag, normalize_tag
from photos.video import MAX_UPLOAD_BYTES as MAX_VIDEO_BYTES
from sharding.ids import MAX_ID, min_id_at
from users.models import User
from users.selectors import access_content_owner

PAGE_SIZE = 20
MAX_PAGE = 100


def _viewer(request: HttpRequest) -> User:
    # None on a public read made with a client_id (api_endpoint's public=True): such reads pass it
    # only where None is taken (access_media, visible_cards); writes always come with a token.
    return cast(APIRequest, request).api_user


def media_page(request: HttpRequest, cards: list[MediaCard], **next_page: str) -> JsonResponse:
    """Envelope a page of media; `next_page` is the next page's cursor, e.g. max_id="123" (none: last page).

    v1 named it in the pagination as `next_<parameter>` beside `next_url`.
    """
    pagination: dict[str, str] = {}
    if next_page:
        pagination = {f"next_{name}": value for name, value in next_page.items()}
        pagination["next_url"] = next_url(request, **next_page)
    return envelope(media_objects(viewer=_viewer(request), cards=cards), pagination=pagination)


def id_page(request: HttpRequest, ids: list[int], *, count: int, cursor: str) -> JsonResponse:
    """Envelope the visible media of a page of ids, newest first; a full page continues below its last id."""
    cards = visible_cards(viewer=_viewer(request), ids=ids)
    if len(ids) < count:
        return media_page(request, cards)
    return media_page(request, cards, **{cursor: str(ids[-1])})


def media_id_param(values: dict[str, str], name: str) -> int | None:
    """A max_id/min_id: the bare media id or v1's `"<media_id>_<user_id>"`."""
    return id_param({name: values.get(name, "").partition("_")[0]}, name)


def timestamp_param(values: dict[str, str], name: str) -> datetime | None:
    raw = values.get(name, "").strip()
    if not raw:
        return None
    if not is_digits(raw) or len(raw) > 11:
        raise APIInvalidParametersError(f"{name} must be a Unix timestamp in seconds.")
    return datetime.fromtimestamp(int(raw), tz=UTC)


@api_endpoint(methods=("POST",), first_party=True)
def upload(request: HttpRequest) -> JsonResponse:
    """POST /v1/media/upload: multipart/form-data with `photo` and the fields in the README."""
    if request.content_type != "multipart/form-data":
        raise APIInvalidParametersError(
            "The upload must be multipart/form-data with a file field named photo."
        )
    values = params(request)
    photo = request.FILES.get("photo")
    if photo is not None and photo.size is not None:
        check_photo_size(photo.size)
    upload_key = request.headers.get("Idempotency-Key") or values.get("upload_id") or None
    media, created = check_upload_media(
        owner=_viewer(request),
        photo=photo.read() if photo is not None else None,
        values=values,
        upload_key=upload_key.strip() if upload_key else None,
    )
    cards = visible_cards(viewer=_viewer(request), ids=[media.id])
    return envelope(media_objects(viewer=_viewer(request), cards=cards)[0], status=201 if created else 200)


@api_endpoint(methods=("POST",), first_party=True)
def upload_video(request: HttpRequest) -> JsonResponse:
    """POST /v1/media/upload/video: multipart/form-data with `video` (MP4 or MOV) and a photo's fields."""
    if request.content_type != "multipart/form-data":
        raise APIInvalidParametersError(
            "The upload must be multipart/form-data with a file field named video."
        )
    values = params(request)
    video = request.FILES.get("video")
    if video is not None and video.size is not None and video.size > MAX_VIDEO_BYTES:
        raise APIInvalidParametersError(f"The video is larger than {MAX_VIDEO_BYTES // (1024 * 1024)} MB.")
    upload_key = request.headers.get("Idempotency-Key") or values.get("upload_id") or None
    media, created = check_upload_video(
        owner=_viewer(request),
        video=video.read() if video is not None else None,
        values=values,
        upload_key=upload_key.strip() if upload_key else None,
    )
    cards = visible_cards(viewer=_viewer(request), ids=[media.id])
    return envelope(media_objects(viewer=_viewer(request), cards=cards)[0], status=201 if created else 200)


@api_endpoint(methods=("GET", "DELETE"), public=True)
def media(request: HttpRequest, media_ref: str) -> JsonResponse:
    if request.method == "DELETE":
        # Reading a media object is open to any app; deleting it only to the mobile app.
        require_first_party(request)
    card = access_media(viewer=_viewer(request), ref=media_ref)
    if request.method == "DELETE":
        check_delete_media(actor=_viewer(request), card=card)
        return envelope(None)
    return envelope(media_objects(viewer=_viewer(request), cards=[card])[0])


@api_endpoint(methods=("GET",), public=True)
def media_by_shortcode(request: HttpRequest, code: str) -> JsonResponse:
    card = access_media(viewer=_viewer(request), ref=str(media_id_from_shortcode(code)))
    return envelope(media_objects(viewer=_viewer(request), cards=[card])[0])


@api_endpoint(methods=("GET", "POST", "DELETE"), public=True)
def likes(request: HttpRequest, media_ref: str) -> JsonResponse:
    """GET: who likes the media. POST/DELETE (scope likes): like or unlike it, idempotently."""
    viewer = _viewer(request)
    card, owner = access_media_and_owner(viewer=viewer, ref=media_ref)
    if request.method == "GET":
        return envelope([short_user(u) for u in likers_of(viewer=viewer, card=card, count=120)])
    require_scope(request, "likes")
    check_like_media(user=viewer, card=card, owner=owner, like=request.method == "POST")
    return envelope(None)


@api_endpoint(methods=("GET", "POST"), public=True)
def comments(request: HttpRequest, media_ref: str) -> JsonResponse:
    """GET: the newest 150 comments, oldest first. POST text=... (scope comments): add one."""
    viewer = _viewer(request)
    card = access_media(viewer=viewer, ref=media_ref)
    if request.method == "GET":
        return envelope(comment_objects(comments_on(viewer=viewer, card=card, count=150)))
    require_scope(request, "comments")
    comment = check_comment_media(user=viewer, card=card, text=params(request).get("text", ""))
    return envelope(comment_object(comment, viewer))


@api_endpoint(methods=("DELETE",))
def comment(request: HttpRequest, media_ref: str, comment_ref: str) -> JsonResponse:
    require_scope(request, "comments")
    card = access_media(viewer=_viewer(request), ref=media_ref)
    check_delete_comment(user=_viewer(request), card=card, comment_ref=comment_ref)
    return envelope(None)


@api_endpoint(methods=("GET",), public=True)
def user_recent_media(request: HttpRequest, user_ref: str) -> JsonResponse:
    owner = access_content_owner(viewer=_viewer(request), user_ref=user_ref)
    values = params(request)
    count = count_param(values, default=PAGE_SIZE, high=MAX_PAGE)
    ids = recent_media_ids(
        owner_id=owner.id,
        max_id=media_id_param(values, "max_id"),
        min_id=media_id_param(values, "min_id"),
        min_time=timestamp_param(values, "min_timestamp"),
        max_time=timestamp_param(values, "max_timestamp"),
        count=count,
    )
    return id_page(request, ids, count=count, cursor="max_id")


@api_endpoint(methods=("GET",))
def liked_media(request: HttpRequest) -> JsonResponse:
    values = params(request)
    count = count_param(values, default=PAGE_SIZE, high=MAX_PAGE)
    viewer = _viewer(request)
    ids, cursor = liked_media_page(user_id=viewer.id, before=id_param(values, "max_like_id"), count=count)
    cards = visible_cards(viewer=viewer, ids=ids)
    if cursor is None:
        return media_page(request, cards)
    return media_page(request, cards, max_like_id=str(cursor))


# ---------------------------------------------------------------- discovery


def _point(values: dict[str, str]) -> tuple[float, float, int]:
    """lat, lng (required) and distance in meters (default 1 km, at most 5 km)."""
    latitude, longitude = geo.point_param(values)
    distance = int_param(values, "distance", default=geo.DEFAULT_DISTANCE_M, low=1, high=geo.MAX_DISTANCE_M)
    return latitude, longitude, distance


def _search_window(values: dict[str, str]) -> tuple[float, float]:
    """Return a media search's (min, max) Unix times, v1's window: 5 days unless asked, 7 at most.

    max_timestamp defaults to now and min_timestamp to 5 days before it.
    """
    min_time, max_time = timestamp_param(values, "min_timestamp"), timestamp_param(values, "max_timestamp")
    until = max_time.timestamp() if max_time else time.time()
    since = min_time.timestamp() if min_time else until - geo.SEARCH_DEFAULT_SPAN_S
    if since > until:
        raise APIInvalidParametersError("min_timestamp must not be after max_timestamp.")
    if until - since > geo.SEARCH_MAX_SPAN_S:
        raise APIInvalidParametersError(
            "min_timestamp and max_timestamp may be at most 7 days apart (max_timestamp defaults to now)."
        )
    return since, until


@api_endpoint(methods=("GET",), public=True)
def media_search(request: HttpRequest) -> JsonResponse:
    """Media taken within `distance` meters of lat/lng, newest first (the Redis GEO index: photos.geo).

    Each media carries its `distance` in meters from the point, as in v1.
    """
    values = params(request)
    latitude, longitude, distance = _point(values)
    since, until = _search_window(values)
    try:
        found = geo.search_media_near(
            latitude=latitude,
            longitude=longitude,
            distance_m=distance,
            min_time=since,
            max_time=until,
            count=count_param(values, default=PAGE_SIZE, high=MAX_PAGE),
        )
    except ValueError as exc:
        raise APIInvalidParametersError(f"{exc}.") from None
    meters = dict(found)
    cards = visible_cards(viewer=_viewer(request), ids=[media_id for media_id, _ in found])
    items = media_objects(viewer=_viewer(request), cards=cards)
    for item in items:
        item["distance"] = meters[int(item["id"].partition("_")[0])]
    return envelope(items, pagination={})


@api_endpoint(methods=("GET",), public=True)
def media_popular(request: HttpRequest) -> JsonResponse:
    """Public recent media, by time-decayed like velocity (photos.popular)."""
    count = count_param(params(request), default=PAGE_SIZE, high=MAX_PAGE)
    ranked = popular.popular_ids(count=count * 2)  # room for media the viewer may not see
    ids = [media_id for media_id, _ in ranked]
    return media_page(request, first_visible_cards(viewer=_viewer(request), ids=ids, count=count))


def _tag_name(raw: str) -> str:
    try:
        return normalize_tag(raw)
    except ValueError as exc:
        raise APIInvalidParametersError(str(exc)) from None


def _tag_object(name: str, media_count: int) -> dict[str, object]:
    return {"name": name, "media_count": media_count}


@api_endpoint(methods=("GET",), public=True)
def tag(request: HttpRequest, name: str) -> JsonResponse:
    found = tag_info(_tag_name(name))
    return envelope(_tag_object(_tag_name(name), found.media_count if found else 0))


TAG_DEPRECATION = (
    "next_max_id and min_id are deprecated for this endpoint; use min_tag_id and max_tag_id instead"
)


def _tag_cursor(values: dict[str, str], name: str, alias: str) -> int | None:
    """A tag page's bound: `max_tag_id` (or `min_tag_id`), else its older twin `max_id` (`min_id`)."""
    if values.get(name, "").strip():
        return media_id_param(values, name)
    return media_id_param(values, alias)


@api_endpoint(methods=("GET",), public=True)
def tag_recent_media(request: HttpRequest, name: str) -> JsonResponse:
    """One page of a tag's media, newest first, paged as v1 did.

    `max_tag_id`/`min_tag_id` bound the page (`max_id`/`min_id` are their
    older names). The pagination carries v1's fields: `next_max_tag_id`
    and its deprecated twin `next_max_id` while older media remain, and
    `min_tag_id`/`next_min_id`, the page's newest id, to poll for newer.
    """
    values = params(request)
    count = count_param(values, default=PAGE_SIZE, high=MAX_PAGE)
    ids = tag_media_ids(
        name=_tag_name(name),
        max_id=_tag_cursor(values, "max_tag_id", "max_id"),
        min_id=_tag_cursor(values, "min_tag_id", "min_id"),
        count=count + 1,  # one more says whether another page exists
    )
    page = ids[:count]
    pagination: dict[str, str] = {"deprecation_warning": TAG_DEPRECATION}
    if page:
        pagination["next_min_id"] = pagination["min_tag_id"] = str(page[0])
    if len(ids) > count:
        pagination["next_max_tag_id"] = pagination["next_max_id"] = str(page[-1])
        pagination["next_url"] = next_url(request, max_tag_id=str(page[-1]))
    cards = visible_cards(viewer=_viewer(request), ids=page)
    return envelope(media_objects(viewer=_viewer(request), cards=cards), pagination=pagination)


@api_endpoint(methods=("GET",), public=True)
def tag_search(request: HttpRequest) -> JsonResponse:
    values = params(request)
    (query,) = required(values, "q")
    count = count_param(values, default=PAGE_SIZE, high=MAX_PAGE)
    prefix = fold_tag(query.removeprefix("#"))
    tags = search_tags(prefix=prefix, count=count) if is_valid_tag(prefix) or prefix.isalnum() else []
    return envelope([_tag_object(t.name, t.media_count) for t in tags])


def _location_object(place: Location | LocationCard) -> dict[str, object]:
    return {"id": str(place.id), "name": place.name, "latitude": place.latitude, "longitude": place.longitude}


def _location(location_ref: str) -> LocationCard:
    place = location_card(int(location_ref)) if is_digits(location_ref) and len(location_ref) <= 18 else None
    if place is None or place.id is None:
        raise APINotFoundError(f"No location with id {location_ref[:40]}.")
    return place


@api_endpoint(methods=("GET",), public=True)
def location(request: HttpRequest, location_ref: str) -> JsonResponse:
    return envelope(_location_object(_location(location_ref)))


def _location_media_bounds(values: dict[str, str]) -> tuple[int | None, int | None]:
    """Return the (max_id, min_id) of a location page: min_id/max_id and min/max_timestamp, the tighter.

    A media id starts with the time it was made (sharding.ids), so a time
    bound is an id bound: min_timestamp keeps ids from the first id of that
    second, max_timestamp those below the first id of the next second.
    """
    max_id, min_id = media_id_param(values, "max_id"), media_id_param(values, "min_id")
    min_time, max_time = timestamp_param(values, "min_timestamp"), timestamp_param(values, "max_timestamp")
    if min_time is not None and max_time is not None and min_time > max_time:
        raise APIInvalidParametersError("min_timestamp must not be after max_timestamp.")
    if min_time is not None:
        after = min(min_id_at(min_time), MAX_ID) - 1
        min_id = after if min_id is None else max(min_id, after)
    if max_time is not None:
        before = min(min_id_at(max_time + timedelta(seconds=1)), MAX_ID)
        max_id = before if max_id is None else min(max_id, before)
    return max_id, min_id


@api_endpoint(methods=("GET",), public=True)
def location_recent_media(request: HttpRequest, location_ref: str) -> JsonResponse:
    _location(location_ref)  # a 404 for a place that does not exist
    values = params(request)
    count = count_param(values, default=PAGE_SIZE, high=MAX_PAGE)
    max_id, min_id = _location_media_bounds(values)
    ids = location_media_ids(location_id=int(location_ref), max_id=max_id, min_id=min_id, count=count)
    return id_page(request, ids, count=count, cursor="max_id")


@api_endpoint(methods=("GET",), public=True)
def location_search(request: HttpRequest) -> JsonResponse:
    """Named places within `distance` meters of lat/lng, nearest first; or the place an external id names.

    v1: with `foursquare_v2_id`, `foursquare_id` or `facebook_places_id`,
    lat and lng are not needed; the answer is the location carrying that id
    (an empty list when none does).
    """
    values = params(request)
    place_ids = external_ids(values)
    if place_ids:
        # Given, the others must still be valid: a bad one is a 400, never ignored.
        if values.get("lat", "").strip() or values.get("lng", "").strip():
            _point(values)
        int_param(values, "distance", default=geo.DEFAULT_DISTANCE_M, low=1, high=geo.MAX_DISTANCE_M)
        count_param(values, default=PAGE_SIZE, high=MAX_PAGE)
        return envelope([_location_object(place) for place in locations_with(place_ids)])
    latitude, longitude, distance = _point(values)
    count = count_param(values, default=PAGE_SIZE, high=MAX_PAGE)
    nearby = geo.search_locations(latitude=latitude, longitude=longitude, distance_m=distance, count=count)
    places = Location.objects.in_bulk([location_id for location_id, _ in nearby])
    return envelope([_location_object(places[i]) for i, _ in nearby if i in places])
