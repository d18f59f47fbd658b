"""Writes to photos: upload, delete, like, unlike, comment, uncomment.

Upload, in the order that makes a success mean "stored" and a failure
leave nothing behind:

1. validate the fields and decode the photo (Pillow: photos.imaging), so bad
   input costs no storage;
2. store every rendition in S3 under a fresh random prefix;
3. one transaction on the main database holds the owner's row lock (this
   user's uploads run one at a time, which makes the idempotency check
   exact) and encloses the transaction on the owner's shard that inserts
   the media row; the shard commits first, then the main database with the
   media count. Any failure before the shard commit deletes the objects of
   step 2. A retry with the same upload key finds the media and returns it;
4. after commit: the photo->user map, the tag and geo indexes, and the
   background jobs (fan-out, sharing, subscriptions, mention notices).
   Each step is idempotent, and a retried upload runs them again, so a
   crash between commit and indexing heals when the client retries.

Likes and comments live on the media's shard; counts move in the same
transaction as the row that justifies them, so they stay exact under any
concurrency. A like is also stored on the liker's shard (LikedMedia).
"""

import json
import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypedDict

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.db.models import F

from feeds.jobs import Commented, MediaDeleted, MediaLiked, MediaPosted, Mentioned
from instagram.errors import APIInvalidParametersError, APINotAllowedError, APINotFoundError
from instagram.parameters import is_digits
from monitoring import stats
from photos import geo, photomap, popular
from photos.cache import MediaCard, forget_cards_on_commit, media_cards
from photos.filters import UnknownFilter, parse_filter
from photos.imaging import MAX_UPLOAD_BYTES, RENDITIONS_STORED, ImageRejected, ProcessedPhoto, process_photo
from photos.indexes import (
    index_location_media,
    index_media_tags,
    unindex_location_media,
    unindex_media_tags,
)
from photos.models import Comment, Like, LikedMedia, Location, Media
from photos.places import external_ids, locations_with_any
from photos.storage import (
    VIDEO_RENDITIONS,
    delete_objects,
    is_video_prefix,
    new_object_prefix,
    purge_cdn,
    put_objects,
    rendition_key,
    video_key,
)
from photos.text import MAX_CAPTION, MAX_TAGS, hashtags, mentions
from photos.video import MP4, VideoRejected, process_video
from relationships.models import Kind
from relationships.selectors import states_towards
from sharding.ids import decode_id
from sharding.routing import (
    current_shard,
    insert_unless_exists,
    shard_for_id,
    shard_for_user,
    use_shard,
    user_shard,
)
from users.cache import Profile, forget_profiles_on_commit, profiles
from users.models import User
from workers.submit import submit_job_on_commit

logger = logging.getLogger(__name__)

SHARE_TARGETS = ("twitter", "facebook")
UPLOAD_KEY = re.compile(r"[A-Za-z0-9._:-]{1,64}")
MAX_USERS_IN_PHOTO = 20  # people tagged in one photo, as the app allowed
PLACE_MATCH_M = 100  # a named place within this distance and of the same name is the same location


class TaggedPerson(TypedDict):
    """A person in the photo, as Media.users_in_photo stores them: x and y in 0..1 from the top left."""

    user_id: int
    x: float
    y: float


@dataclass(frozen=True)
class UploadRequest:
    """A validated upload, photo not yet decoded."""

    photo: bytes
    caption: str
    filter_name: str
    tags: list[str]
    mentioned: list[str]
    location_id: int | None
    latitude: float | None
    longitude: float | None
    place_name: str
    place_ids: dict[str, str]  # a new place's foursquare / Facebook ids
    users_in_photo: list[TaggedPerson]
    share_targets: list[str]
    upload_key: str | None


# ------------------------------------------------------------------ upload


def check_upload_media(
    *,
    owner: User,
    photo: bytes | None,
    values: dict[str, str],
    upload_key: str | None,
) -> tuple[Media, bool]:
    """Validate an upload and post it; return the media and whether it is new (False: a retry)."""
    if upload_key is not None and not UPLOAD_KEY.fullmatch(upload_key):
        raise APIInvalidParametersError("The upload key must be 1 to 64 letters, digits or . _ : -.")
    if upload_key is not None:
        existing = _media_for_key(owner.id, upload_key)
        if existing is not None:
            _after_post(existing, mentioned=[])
            return existing, False
    request = _upload_request(photo=photo, values=values, upload_key=upload_key)
    check_users_in_photo(owner=owner, tagged=request.users_in_photo)
    try:
        processed = process_photo(request.photo, filter_name=request.filter_name)
    except ImageRejected as exc:
        raise APIInvalidParametersError(str(exc)) from None
    return do_upload_media(owner=owner, request=request, processed=processed)


def check_photo_size(size: int) -> None:
    """Refuse a photo over MAX_UPLOAD_BYTES: the view asks before reading the file, the upload after."""
    if size > MAX_UPLOAD_BYTES:
        raise APIInvalidParametersError(f"The photo is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")


def check_upload_video(
    *,
    owner: User,
    video: bytes | None,
    values: dict[str, str],
    upload_key: str | None,
) -> tuple[Media, bool]:
    """Validate a video upload and post it (type video); return the media and whether it is new.

    The same fields as a photo's, the same idempotency; the video is
    transcoded (photos.video) before anything is stored.
    """
    if video is None:
        raise APIInvalidParametersError("Missing required file: video (send multipart/form-data).")
    if upload_key is not None and not UPLOAD_KEY.fullmatch(upload_key):
        raise APIInvalidParametersError("The upload key must be 1 to 64 letters, digits or . _ : -.")
    if upload_key is not None:
        existing = _media_for_key(owner.id, upload_key)
        if existing is not None:
            _after_post(existing, mentioned=[])
            return existing, False
    # The fields are a photo upload's: validated by the same code, the file aside (b"": none to check).
    request = _upload_request(photo=b"", values=values, upload_key=upload_key)
    check_users_in_photo(owner=owner, tagged=request.users_in_photo)
    try:
        processed = process_video(video, filter_name=request.filter_name)
    except VideoRejected as exc:
        raise APIInvalidParametersError(str(exc)[:1].upper() + str(exc)[1:] + ".") from None
    return do_upload_media(owner=owner, request=request, processed=processed.cover, videos=processed.videos)


def _upload_request(*, photo: bytes | None, values: dict[str, str], upload_key: str | None) -> UploadRequest:
    if photo is None:
        raise APIInvalidParametersError("Missing required file: photo (send multipart/form-data).")
    check_photo_size(len(photo))
    caption = values.get("caption", "").strip()
    tags, mentioned = check_text(caption, what="caption")
    try:
        filter_name = parse_filter(values.get("filter", "").strip() or "normal")
    except UnknownFilter as exc:
        raise APIInvalidParametersError(str(exc)) from None
    location_id, latitude, longitude, place_name, place_ids = _location_fields(values)
    tagged = users_in_photo_field(values)
    targets = [t.strip().lower() for t in values.get("share_to", "").split(",") if t.strip()]
    unknown = [t for t in targets if t not in SHARE_TARGETS]
    if unknown:
        raise APIInvalidParametersError(
            f"share_to: {unknown[0][:20]} is not one of {', '.join(SHARE_TARGETS)}."
        )
    return UploadRequest(
        photo=photo,
        caption=caption,
        filter_name=filter_name,
        tags=tags,
        mentioned=mentioned,
        location_id=location_id,
        latitude=latitude,
        longitude=longitude,
        place_name=place_name,
        place_ids=place_ids,
        users_in_photo=tagged,
        share_targets=sorted(set(targets)),
        upload_key=upload_key,
    )


def check_text(text: str, *, what: str) -> tuple[list[str], list[str]]:
    """Validate a caption or comment; return its hashtags and mentioned usernames."""
    if len(text) > MAX_CAPTION:
        raise APIInvalidParametersError(f"The {what} is {len(text)} characters; at most {MAX_CAPTION}.")
    tags = hashtags(text)
    if len(tags) > MAX_TAGS:
        raise APIInvalidParametersError(f"The {what} has {len(tags)} hashtags; at most {MAX_TAGS}.")
    return tags, mentions(text)


def users_in_photo_field(values: dict[str, str]) -> list[TaggedPerson]:
    """Parse the upload's `users_in_photo`: a JSON list of people and their places in the photo.

    Each item is v1's own shape, `{"user": {"id": "123"}, "position": {"x": 0.3, "y": 0.6}}`,
    or the flat `{"user_id": 123, "x": 0.3, "y": 0.6}`; x and y are in 0..1 from the top left.
    """
    raw = values.get("users_in_photo", "").strip()
    if not raw:
        return []
    shape = 'users_in_photo must be a JSON list of {"user_id": ..., "x": ..., "y": ...}.'
    try:
        items = json.loads(raw)
    except (ValueError, RecursionError):
        raise APIInvalidParametersError(shape) from None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise APIInvalidParametersError(shape)
    if len(items) > MAX_USERS_IN_PHOTO:
        raise APIInvalidParametersError(
            f"users_in_photo tags {len(items)} people; at most {MAX_USERS_IN_PHOTO}."
        )
    tagged: list[TaggedPerson] = []
    for item in items:
        user = item.get("user")
        user_id = user.get("id") if isinstance(user, dict) else item.get("user_id")
        position = item.get("position", item)
        if isinstance(user_id, bool) or not is_digits(str(user_id)) or int(str(user_id)) >= 2**63:
            raise APIInvalidParametersError("users_in_photo: each person needs a numeric user_id.")
        if not isinstance(position, dict):
            raise APIInvalidParametersError(shape)
        x, y = _position(position.get("x")), _position(position.get("y"))
        tagged.append({"user_id": int(str(user_id)), "x": x, "y": y})
    ids = [tag["user_id"] for tag in tagged]
    if len(set(ids)) != len(ids):
        raise APIInvalidParametersError("users_in_photo names the same user twice.")
    return tagged


def _position(value: object) -> float:
    """Return an x or y of users_in_photo, a JSON number from 0 to 1 (NaN fails the range test)."""
    # bool is an int in Python, and "0.5" a string: neither is a JSON number.
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise APIInvalidParametersError("users_in_photo: x and y must be numbers from 0 to 1.")
    return float(value)


def check_users_in_photo(*, owner: User, tagged: list[TaggedPerson]) -> None:
    """Refuse tags of people who do not exist, are deactivated, or block the owner (not told apart)."""
    ids = {tag["user_id"] for tag in tagged}
    if not ids:
        return
    found = set(User.objects.filter(id__in=ids, is_active=True).values_list("id", flat=True))
    states = states_towards(viewer_id=owner.id, other_ids=found)
    taggable = {i for i in found if Kind.BLOCKED_BY not in states.get(i, frozenset())}
    missing = [tag["user_id"] for tag in tagged if tag["user_id"] not in taggable]
    if missing:
        raise APIInvalidParametersError(f"users_in_photo: no user with id {missing[0]}.")


def _float(values: dict[str, str], name: str) -> float | None:
    raw = values.get(name, "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise APIInvalidParametersError(f"{name} must be a number.") from None


def _location_fields(
    values: dict[str, str],
) -> tuple[int | None, float | None, float | None, str, dict[str, str]]:
    """Return the upload's location id, point, new place's name and external place ids.

    A venue picked from foursquare or Facebook (its id) is the location
    that carries that id; if none does yet, the upload names a new place
    with it (location_name, lat and lng).
    """
    raw_id = values.get("location_id", "").strip()
    latitude, longitude = _float(values, "lat"), _float(values, "lng")
    place_name = values.get("location_name", "").strip()
    place_ids = external_ids(values)
    if raw_id:
        if not is_digits(raw_id) or len(raw_id) > 18:
            raise APIInvalidParametersError("location_id must be a numeric id.")
        if place_ids:
            raise APIInvalidParametersError(f"Send location_id or {next(iter(place_ids))}, not both.")
        place = Location.objects.filter(id=int(raw_id)).first()
        if place is None:
            raise APIInvalidParametersError(f"No location with id {raw_id}.")
        return place.id, place.latitude, place.longitude, "", {}
    known = locations_with_any(place_ids)
    if len(known) > 1:
        raise APIInvalidParametersError(f"{' and '.join(place_ids)} name different locations.")
    if known:
        return known[0].id, known[0].latitude, known[0].longitude, "", {}
    if (latitude is None) != (longitude is None):
        raise APIInvalidParametersError("lat and lng go together: send both or neither.")
    if latitude is not None and longitude is not None:
        try:
            geo.validate_point(latitude, longitude)
        except ValueError as exc:
            raise APIInvalidParametersError(str(exc)) from None
    elif place_name:
        raise APIInvalidParametersError("location_name needs lat and lng.")
    if place_ids and not (place_name and latitude is not None):
        name = next(iter(place_ids))
        raise APIInvalidParametersError(
            f"No location has {name} {place_ids[name]}: send location_name, lat and lng to name it."
        )
    if len(place_name) > 200:
        raise APIInvalidParametersError("location_name is longer than 200 characters.")
    return None, latitude, longitude, place_name, place_ids


def do_upload_media(
    *, owner: User, request: UploadRequest, processed: ProcessedPhoto, videos: dict[str, bytes] | None = None
) -> tuple[Media, bool]:
    """Store the renditions (a video's MP4s too), then the row; a failure before the commit deletes them."""
    prefix = new_object_prefix(video=videos is not None)
    objects = [
        (rendition_key(prefix, rendition.name), rendition.data, rendition.content_type)
        for rendition in processed.renditions.values()
    ] + [(video_key(prefix, name), data, MP4) for name, data in (videos or {}).items()]
    stored: list[str] = []
    row_committed: list[Media] = []
    try:
        put_objects(objects)  # in parallel; a failure leaves none of them stored
        stored = [key for key, _, _ in objects]
        media, created = _insert_media(
            owner=owner, request=request, processed=processed, prefix=prefix, row_committed=row_committed
        )
    except BaseException:
        # The shard commits before the main database: once the row is there,
        # its renditions stay (a row without images is worse than a counter
        # that verify_counts repairs).
        if not row_committed:
            _delete_quietly(stored)
        raise
    if not created:  # a concurrent retry won the race: keep its objects, drop ours
        _delete_quietly(stored)
    return media, created


def _insert_media(
    *, owner: User, request: UploadRequest, processed: ProcessedPhoto, prefix: str, row_committed: list[Media]
) -> tuple[Media, bool]:
    with transaction.atomic(using="default"):
        User.objects.select_for_update(no_key=True).filter(id=owner.id).values_list("id").get()
        with shard_for_user(owner.id):
            if request.upload_key is not None:
                existing = Media.objects.filter(user_id=owner.id, upload_key=request.upload_key).first()
                if existing is not None:
                    return existing, False
            original = processed.renditions["original"]
            media = Media.objects.create(
                user_id=owner.id,
                caption=request.caption,
                caption_id=_next_id() if request.caption else None,
                filter_name=request.filter_name,
                object_prefix=prefix,
                original_width=original.width,
                original_height=original.height,
                location_id=request.location_id or _place_id(request),
                latitude=request.latitude,
                longitude=request.longitude,
                tags=request.tags,
                users_in_photo=request.users_in_photo,
                share_targets=request.share_targets,
                upload_key=request.upload_key,
            )
        row_committed.append(media)
        User.objects.filter(id=owner.id).update(media_count=F("media_count") + 1)
        forget_profiles_on_commit(owner.id)
        # robust: the photo is stored once committed; an index that failed here heals on a retry.
        transaction.on_commit(
            lambda: _after_post(media, mentioned=request.mentioned), using="default", robust=True
        )
        # Before the jobs: its fan-out clock starts before a worker can stop it.
        stats.count_post_on_commit(media_id=media.id)
        _submit_post_jobs(media)
    return media, True


def _next_id() -> int:
    """Return a fresh id from the current shard's id function (a caption's comment id)."""
    shard = current_shard()
    with connections[shard.alias].cursor() as cursor:
        cursor.execute(f"SELECT {shard.schema}.next_id()")
        row = cursor.fetchone()
    return int(row[0])


def _place_id(request: UploadRequest) -> int | None:
    """Return the named place the upload is at: an existing one of that name nearby, or a new one.

    A place named with external ids is found by them; if none carries them
    the new place does. Two uploads creating it at once: the unique
    constraint lets one in, the other takes that one.
    """
    if not request.place_name or request.latitude is None or request.longitude is None:
        return None
    if not request.place_ids:
        nearby = geo.search_locations(
            latitude=request.latitude, longitude=request.longitude, distance_m=PLACE_MATCH_M, count=20
        )
        wanted = request.place_name.casefold()
        for place in Location.objects.filter(id__in=[location_id for location_id, _ in nearby]):
            if place.name.casefold() == wanted:
                return place.id
    try:
        with transaction.atomic(using="default"):  # a savepoint: the upload's transaction goes on
            place = Location.objects.create(
                name=request.place_name,
                latitude=request.latitude,
                longitude=request.longitude,
                **request.place_ids,
            )
    except IntegrityError:
        raced = locations_with_any(request.place_ids)
        if not raced:
            raise
        return raced[0].id
    transaction.on_commit(
        lambda: geo.index_location(location_id=place.id, latitude=place.latitude, longitude=place.longitude),
        using="default",
    )
    return place.id


def _submit_post_jobs(media: Media) -> None:
    submit_job_on_commit(MediaPosted(media_id=media.id, user_id=media.user_id))


def _after_post(media: Media, *, mentioned: list[str]) -> None:
    """Index a committed media (idempotent: a retried upload runs it again)."""
    photomap.remember_owner(media_id=media.id, user_id=media.user_id)
    if media.latitude is not None and media.longitude is not None:
        geo.index_media(media_id=media.id, latitude=media.latitude, longitude=media.longitude)
    index_media_tags(media_id=media.id, owner_id=media.user_id, tags=list(media.tags))
    if media.location_id is not None:
        index_location_media(media_id=media.id, owner_id=media.user_id, location_id=media.location_id)
    _notify_mentions(actor_id=media.user_id, media_id=media.id, usernames=mentioned)


def _notify_mentions(
    *, actor_id: int, media_id: int, usernames: list[str], comment_id: int | None = None
) -> None:
    """Submit the mention job for the users named (a caption's when comment_id is None)."""
    if not usernames:
        return
    found = User.objects.filter(username__lower__in=usernames, is_active=True).exclude(id=actor_id)
    user_ids = sorted(found.values_list("id", flat=True))
    if user_ids:
        submit_job_on_commit(
            Mentioned(media_id=media_id, actor_id=actor_id, user_ids=tuple(user_ids), comment_id=comment_id)
        )


def _media_for_key(user_id: int, upload_key: str) -> Media | None:
    with shard_for_user(user_id):
        return Media.objects.filter(user_id=user_id, upload_key=upload_key).first()


def _delete_quietly(keys: list[str]) -> None:
    try:
        delete_objects(keys)
    except Exception:
        logger.exception("could not delete %d orphaned objects: %s", len(keys), keys)


# ------------------------------------------------------------------ delete


def check_delete_media(*, actor: User, card: MediaCard) -> None:
    if card.user_id != actor.id:
        raise APINotAllowedError("You can only delete your own media.")
    if not do_delete_media(media_id=card.id, owner_id=card.user_id):
        raise APINotFoundError(f"No media with id {card.id}.")


def do_delete_media(*, media_id: int, owner_id: int) -> bool:
    """Delete the media, its likes and comments; then its objects, CDN copies and index entries.

    Locks the owner's row before the media, the order an upload takes, and
    moves the media count by the rows the DELETE removed. Returns False,
    writing nothing, when the media is already gone.
    """
    with transaction.atomic(using="default"):
        User.objects.select_for_update(no_key=True).filter(id=owner_id).values_list("id").first()
        with shard_for_id(media_id, for_user=owner_id) as shard:
            media = Media.objects.select_for_update().filter(id=media_id).first()
            if media is None:
                return False
            likers = list(Like.objects.filter(media_id=media_id).values_list("user_id", flat=True))
            Like.objects.filter(media_id=media_id).delete()
            Comment.objects.filter(media_id=media_id).delete()
            deleted, _ = Media.objects.filter(
                id=media_id
            ).delete()  # not media.delete(): that clears media.id
            forget_cards_on_commit(media_id, using=shard.alias)
        User.objects.filter(id=owner_id).update(media_count=F("media_count") - deleted)
        forget_profiles_on_commit(owner_id)
        transaction.on_commit(lambda: _after_delete(media, likers), using="default", robust=True)
        submit_job_on_commit(MediaDeleted(media_id=media_id, user_id=owner_id))
    return True


def do_clean_up_media(*, media_id: int) -> str | None:
    """Remove what a media's delete removes after commit (objects, CDN copies, indexes, likers' halves) now.

    For a delete that must survive a crash between its commit and its
    on-commit work (an account deletion): called before do_delete_media,
    whose own clean-up then finds nothing left. Idempotent. Returns the
    media's object prefix, None when the row is gone.
    """
    with shard_for_id(media_id):
        media = Media.objects.filter(id=media_id).first()
        likers = list(Like.objects.filter(media_id=media_id).values_list("user_id", flat=True))
    if media is None:
        return None
    _after_delete(media, likers)
    return media.object_prefix


def _after_delete(media: Media, likers: list[int]) -> None:
    keys = stored_keys(media.object_prefix)
    _delete_quietly(keys)
    purge_cdn(keys)
    photomap.forget_owner(media_id=media.id)
    geo.unindex_media(media_id=media.id)
    popular.forget_media(media_id=media.id)
    unindex_media_tags(media_id=media.id, tags=list(media.tags))
    if media.location_id is not None:
        unindex_location_media(media_id=media.id, location_id=media.location_id)
    by_shard: dict[int, list[int]] = defaultdict(list)
    for liker in likers:
        by_shard[user_shard(liker)].append(liker)
    for shard, users in by_shard.items():  # the likers' halves: one statement per shard
        with use_shard(shard):
            LikedMedia.objects.filter(user_id__in=users, media_id=media.id).delete()


def stored_keys(prefix: str) -> list[str]:
    """Return the keys of every object a media under `prefix` has: its JPEGs, and a video's MP4s."""
    keys = [rendition_key(prefix, name) for name in RENDITIONS_STORED]
    if is_video_prefix(prefix):
        keys += [video_key(prefix, name) for name in VIDEO_RENDITIONS]
    return keys


# ------------------------------------------------------------------- likes


def check_like_media(*, user: User, card: MediaCard, owner: Profile, like: bool) -> None:
    """Like (`like`) or unlike the media access_media_and_owner gave, with the owner it read."""
    if card.user_id != owner.id:
        raise ValueError(f"{owner.id} does not own media {card.id}")  # a caller's bug, not a client's
    if like:
        do_like_media(user=user, card=card, owner=owner)
    else:
        do_unlike_media(user=user, card=card, owner=owner)


def do_like_media(*, user: User, card: MediaCard, owner: Profile) -> None:
    """Like (idempotent): the like and the count on the media's shard, then the liker's half.

    Locks the media row first, then the like: every writer of a media's likes,
    comments or counts takes the same order, and the count moves only by
    what the INSERT did, so it equals its rows whoever races. The lock, the
    insert and the count are one statement (_insert_like).
    """
    # No for_user here: the liker's own half below pins their reads (one Redis SET, not two).
    with shard_for_id(card.id) as shard:
        exists, like_id, liked_at = _insert_like(media_id=card.id, user_id=user.id)
        if liked_at is not None:
            forget_cards_on_commit(card.id, using=shard.alias)
            stats.count_on_commit(stats.LIKES, using=shard.alias)
            submit_job_on_commit(
                MediaLiked(media_id=card.id, user_id=user.id, owner_id=card.user_id, like_id=like_id),
                using=shard.alias,
            )
    if not exists:
        return
    # One statement, in no transaction of its own; also heals the liker's half that a crash left out.
    with shard_for_user(user.id, one_statement=True):
        insert_unless_exists(LikedMedia, user_id=user.id, media_id=card.id, owner_id=card.user_id)
    if liked_at is not None and _may_rank(card, owner):
        popular.record_like(media_id=card.id, liked_at=liked_at.timestamp())


def _insert_like(*, media_id: int, user_id: int) -> tuple[bool, int | None, datetime | None]:
    """Lock the media row, insert the like unless it exists, and count it, in one statement.

    Return whether the media exists, and the new like's id and time (None,
    None when there was nothing to insert). Call in the media's write
    context. The count moves only if this INSERT added the row; a count
    raised by a concurrent writer meanwhile is re-read under the lock
    (READ COMMITTED's re-check of an updated row), so it stays exact.
    """
    media, like = Media._meta.db_table, Like._meta.db_table
    with connections[current_shard().alias].cursor() as cursor:
        cursor.execute(
            f"WITH locked AS (SELECT id FROM {media} WHERE id = %s FOR NO KEY UPDATE), "  # noqa: S608
            f"liked AS (INSERT INTO {like} (media_id, user_id) SELECT id, %s FROM locked "
            "ON CONFLICT DO NOTHING RETURNING id, created_at), "
            f"counted AS (UPDATE {media} SET like_count = like_count + 1 "
            "WHERE id = %s AND EXISTS (SELECT FROM liked)) "
            "SELECT EXISTS (SELECT FROM locked), (SELECT id FROM liked), (SELECT created_at FROM liked)",
            [media_id, user_id, media_id],
        )
        row = cursor.fetchone()
    assert row is not None
    return bool(row[0]), row[1], row[2]


def do_unlike_media(*, user: User, card: MediaCard, owner: Profile) -> None:
    """Unlike (idempotent): the count moves only if this call's DELETE removed the like."""
    with shard_for_id(card.id) as shard:  # _delete_liked_media pins the liker's reads
        liked_at: datetime | None = None
        if lock_media(card.id):
            liked_at = _delete_like(media_id=card.id, user_id=user.id)
        if liked_at is not None:
            forget_cards_on_commit(card.id, using=shard.alias)
    _delete_liked_media(user_id=user.id, media_id=card.id)
    if liked_at is not None and _may_rank(card, owner):  # the like was ranked under the same rule
        popular.record_unlike(media_id=card.id, liked_at=liked_at.timestamp())


def _delete_liked_media(*, user_id: int, media_id: int) -> None:
    """Delete the liker's half of a like: one statement on the liker's shard, in no transaction of its own."""
    with shard_for_user(user_id, one_statement=True) as shard, connections[shard.alias].cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {LikedMedia._meta.db_table} WHERE user_id = %s AND media_id = %s",  # noqa: S608
            [user_id, media_id],
        )


def lock_media(media_id: int) -> bool:
    """Lock the media row (no key: likes and comments may still reference it); False if it is gone.

    Call inside the media's shard context, before touching its likes or comments.
    """
    locked = Media.objects.select_for_update(no_key=True).filter(id=media_id).values_list("id", flat=True)
    return locked.first() is not None


def _delete_like(*, media_id: int, user_id: int) -> datetime | None:
    """Delete the like and uncount it in the current shard context; return when it was made, None if none was.

    Call with the media row locked (lock_media), in a statement of its own
    after the lock: its snapshot then sees a like committed while it waited.
    """
    alias = current_shard().alias
    media, like = Media._meta.db_table, Like._meta.db_table
    with connections[alias].cursor() as cursor:
        cursor.execute(
            f"WITH unliked AS (DELETE FROM {like} WHERE media_id = %s AND user_id = %s "  # noqa: S608
            "RETURNING created_at), "
            f"counted AS (UPDATE {media} SET like_count = like_count - 1 "
            "WHERE id = %s AND EXISTS (SELECT FROM unliked)) "
            "SELECT created_at FROM unliked",
            [media_id, user_id, media_id],
        )
        row = cursor.fetchone()
    return row[0] if row is not None else None


def do_remove_like_of(*, media_id: int, user_id: int) -> bool:
    """Remove `user_id`'s like of the media, the count moving only if it was there; the liker's half too."""
    with shard_for_id(media_id) as shard:
        liked_at = _delete_like(media_id=media_id, user_id=user_id) if lock_media(media_id) else None
        if liked_at is not None:
            forget_cards_on_commit(media_id, using=shard.alias)
    _delete_liked_media(user_id=user_id, media_id=media_id)
    if liked_at is None:
        return False
    card = media_cards([media_id]).get(media_id)
    owner = profiles([card.user_id]).get(card.user_id) if card is not None else None
    if card is not None and owner is not None and _may_rank(card, owner):  # as do_unlike_media
        popular.record_unlike(media_id=media_id, liked_at=liked_at.timestamp())
    return True


def do_remove_comments_of(*, media_id: int, user_id: int) -> int:
    """Remove every comment `user_id` made on the media, the count moving by the rows removed."""
    with shard_for_id(media_id) as shard:
        if not lock_media(media_id):
            return 0
        deleted, _ = Comment.objects.filter(media_id=media_id, user_id=user_id).delete()
        if deleted:
            Media.objects.filter(id=media_id).update(comment_count=F("comment_count") - deleted)
            forget_cards_on_commit(media_id, using=shard.alias)
    return deleted


def _may_rank(card: MediaCard, owner: Profile) -> bool:
    """Popular shows public accounts' recent photos only."""
    posted = decode_id(card.id, logical_shards=settings.LOGICAL_SHARDS).created_at
    return not owner.is_private and (datetime.now(tz=UTC) - posted).total_seconds() < popular.MAX_AGE


# ---------------------------------------------------------------- comments


# v1's documented rules for a comment (POST /media/{id}/comments), stricter than a caption's.
MAX_COMMENT = 300
MAX_COMMENT_TAGS = 4
MAX_COMMENT_URLS = 1
_URL = re.compile(r"(?i)\b(?:https?://|www\.)[^\s]+")


def check_comment_text(text: str) -> list[str]:
    """Apply v1's comment rules; return the usernames it mentions.

    At most 300 characters, 4 hashtags and 1 URL, and not all capital
    letters (a comment that shouts is refused, one without letters is not).
    """
    if len(text) > MAX_COMMENT:
        raise APIInvalidParametersError(f"The comment is {len(text)} characters; at most {MAX_COMMENT}.")
    tags, mentioned = check_text(text, what="comment")
    if len(tags) > MAX_COMMENT_TAGS:
        raise APIInvalidParametersError(f"The comment has {len(tags)} hashtags; at most {MAX_COMMENT_TAGS}.")
    urls = len(_URL.findall(text))
    if urls > MAX_COMMENT_URLS:
        raise APIInvalidParametersError(f"The comment has {urls} URLs; at most {MAX_COMMENT_URLS}.")
    cased = [c for c in text if c.isupper() or c.islower()]
    if len(cased) > 1 and all(c.isupper() for c in cased):
        raise APIInvalidParametersError("The comment cannot consist of all capital letters.")
    return mentioned


def check_comment_media(*, user: User, card: MediaCard, text: str) -> Comment:
    text = text.strip()
    if not text:
        raise APIInvalidParametersError("Missing required parameter: text.")
    mentioned = check_comment_text(text)
    return do_comment_media(user=user, card=card, text=text, mentioned=mentioned)


def do_comment_media(*, user: User, card: MediaCard, text: str, mentioned: list[str]) -> Comment:
    with shard_for_id(card.id, for_user=user.id) as shard:
        comment = _insert_comment(media_id=card.id, user_id=user.id, text=text)
        if comment is None:
            raise APINotFoundError(f"No media with id {card.id}.")
        forget_cards_on_commit(card.id, using=shard.alias)
        submit_job_on_commit(
            Commented(media_id=card.id, comment_id=comment.id, user_id=user.id, owner_id=card.user_id),
            using=shard.alias,
        )
    _notify_mentions(actor_id=user.id, media_id=card.id, usernames=mentioned, comment_id=comment.id)
    return comment


def _insert_comment(*, media_id: int, user_id: int, text: str) -> Comment | None:
    """Lock the media row, insert the comment and count it, in one statement; None if the media is gone.

    Call in the media's write context. The lock comes first, as for every
    writer of a media's comments and counts (lock_media).
    """
    media, table = Media._meta.db_table, Comment._meta.db_table
    with connections[current_shard().alias].cursor() as cursor:
        cursor.execute(
            f"WITH locked AS (SELECT id FROM {media} WHERE id = %s FOR NO KEY UPDATE), "  # noqa: S608
            f"added AS (INSERT INTO {table} (media_id, user_id, text) SELECT id, %s, %s FROM locked "
            "RETURNING id, created_at), "
            f"counted AS (UPDATE {media} SET comment_count = comment_count + 1 "
            "WHERE id = %s AND EXISTS (SELECT FROM added)) "
            "SELECT id, created_at FROM added",
            [media_id, user_id, text, media_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return Comment(id=row[0], media_id=media_id, user_id=user_id, text=text, created_at=row[1])


def do_delete_caption(*, user: User, card: MediaCard) -> None:
    """Delete the caption, the owner's first comment in v1: only the owner may.

    The tags it named stay on the media and in the tag index (a tag is the
    media's, once posted).
    """
    if user.id != card.user_id:
        raise APINotAllowedError("Only the media's owner can delete its caption.")
    with shard_for_id(card.id, for_user=user.id) as shard:
        if not lock_media(card.id):
            raise APINotFoundError(f"No media with id {card.id}.")
        Media.objects.filter(id=card.id).update(caption="", caption_id=None)
        forget_cards_on_commit(card.id, using=shard.alias)


def check_delete_comment(*, user: User, card: MediaCard, comment_ref: str) -> None:
    """Delete a comment: its author or the media's owner may.

    The media row is locked before the comment (the order every writer
    takes), and the count moves only by the rows this DELETE removed.
    """
    if not is_digits(comment_ref) or len(comment_ref) > 19:
        raise APINotFoundError(f"No comment with id {comment_ref[:40]}.")
    if card.caption and int(comment_ref) == card.caption_id:
        do_delete_caption(user=user, card=card)
        return
    with shard_for_id(card.id, for_user=user.id):
        comment = None
        if lock_media(card.id):
            comment = Comment.objects.filter(id=int(comment_ref), media_id=card.id).first()
        if comment is None:
            raise APINotFoundError(f"No comment with id {comment_ref[:40]}.")
        if user.id not in (comment.user_id, card.user_id):
            raise APINotAllowedError("Only the comment's author or the media's owner can delete it.")
        do_delete_comment(comment=comment, card=card)


def do_delete_comment(*, comment: Comment, card: MediaCard) -> None:
    """Delete the comment, the count moving only by the rows this DELETE removed.

    Call in the media's shard context with its row locked (check_delete_comment).
    """
    deleted, _ = Comment.objects.filter(id=comment.id).delete()
    if deleted:
        Media.objects.filter(id=card.id).update(comment_count=F("comment_count") - deleted)
        forget_cards_on_commit(card.id, using=current_shard().alias)
