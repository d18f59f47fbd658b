"""The S3 object store that holds photos (AWS S3, MinIO, or the local server)."""

import json
import logging
import secrets
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor, wait
from functools import cache
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from django.conf import settings

logger = logging.getLogger(__name__)

# The picture of an account that has set none, as v1's `profiles/anonymousUser.jpg`:
# shipped in the repository, written to the bucket by ensure_bucket, served by the CDN.
DEFAULT_PROFILE_PICTURE_KEY = "profiles/anonymousUser.jpg"
DEFAULT_PROFILE_PICTURE_FILE = Path(__file__).resolve().parent / "assets" / "anonymousUser.jpg"

# PUTs in flight at once per process (put_objects): an upload's four objects go out together,
# and a gthread worker's few request threads share the pool. The client's connection pool
# holds these plus the request threads' own calls.
PARALLEL_PUTS = 8
_CONNECTIONS = PARALLEL_PUTS + 8


@cache
def s3_client() -> Any:
    return boto3.client(
        "s3",
        endpoint_url=settings.S3_ENDPOINT_URL or None,
        region_name=settings.S3_REGION,
        aws_access_key_id=settings.AWS_ACCESS_KEY_ID,
        aws_secret_access_key=settings.AWS_SECRET_ACCESS_KEY,
        config=Config(
            connect_timeout=2,
            read_timeout=10,
            retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=_CONNECTIONS,
            s3={"addressing_style": "path"},
        ),
    )


def cdn_read_policy(bucket: str) -> str:
    """Return the bucket policy that lets the CDN origin fetch objects (reads only).

    Behind CloudFront, operators narrow the principal to the distribution's
    origin access control; listing and writing stay private either way.
    """
    statement = {
        "Sid": "CdnOriginRead",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def create_bucket_unless_exists(name: str) -> bool:
    """Create bucket `name` unless it exists; return True when it was new."""
    client = s3_client()
    try:
        client.head_bucket(Bucket=name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket"}:
            raise
        client.create_bucket(Bucket=name)
        return True
    return False


def ensure_bucket() -> bool:
    """Create the media bucket, its CDN read policy and the default objects; return True when it was new."""
    created = create_bucket_unless_exists(settings.S3_BUCKET)
    s3_client().put_bucket_policy(Bucket=settings.S3_BUCKET, Policy=cdn_read_policy(settings.S3_BUCKET))
    # Written on every run (a few KB): the file shipped with this release is what the CDN serves.
    put_object(
        key=DEFAULT_PROFILE_PICTURE_KEY,
        data=DEFAULT_PROFILE_PICTURE_FILE.read_bytes(),
        content_type="image/jpeg",
    )
    return created


def cdn_url(key: str) -> str:
    """Return the public CDN URL of the object stored under `key`."""
    return f"{settings.CDN_URL}/{key.lstrip('/')}"


def profile_picture_url(key: str) -> str:
    """Return the CDN URL of the profile picture stored under `key`, or the default one's when `key` is ""."""
    return cdn_url(key or DEFAULT_PROFILE_PICTURE_KEY)


def new_object_prefix(*, video: bool = False) -> str:
    """Return a fresh, unguessable folder for one photo's objects (128 random bits); `v/...` for a video's."""
    return f"{VIDEO_FOLDER if video else 'm/'}{secrets.token_urlsafe(16)}"


# A video's objects (its cover's JPEG renditions and its MP4s) live under v/, not m/:
# the media row's prefix says what the media is, with no column of its own.
VIDEO_FOLDER = "v/"
VIDEO_RENDITIONS = ("low_resolution", "standard_resolution")


def is_video_prefix(prefix: str) -> bool:
    return prefix.startswith(VIDEO_FOLDER)


def video_key(prefix: str, rendition: str) -> str:
    return f"{prefix}/{rendition}.mp4"


def new_profile_picture_key() -> str:
    """Return a fresh, unguessable key for one profile picture (a new one at each change)."""
    return f"p/{secrets.token_urlsafe(16)}/profile_picture.jpg"


def rendition_key(prefix: str, rendition: str) -> str:
    return f"{prefix}/{rendition}.jpg"


def put_object(*, key: str, data: bytes, content_type: str) -> None:
    """Store `data` under `key`; the CDN serves it for a year (keys never change once written)."""
    s3_client().put_object(
        Bucket=settings.S3_BUCKET,
        Key=key,
        Body=data,
        ContentType=content_type,
        CacheControl="public, max-age=31536000, immutable",
    )


@cache
def _put_pool() -> ThreadPoolExecutor:
    # Made on first use, in the process that uses it (never inherited across a fork).
    return ThreadPoolExecutor(max_workers=PARALLEL_PUTS, thread_name_prefix="s3-put")


def put_objects(objects: list[tuple[str, bytes, str]]) -> None:
    """Store each (key, data, content type) as put_object does, all at once; all or none stay.

    The PUTs run in parallel, so an upload waits for the slowest, not the
    sum. If any fails, the others are waited for and the stored ones are
    deleted before the first error is raised.
    """
    if len(objects) <= 1:
        for key, data, content_type in objects:
            put_object(key=key, data=data, content_type=content_type)
        return
    pool = _put_pool()
    futures = {
        pool.submit(put_object, key=key, data=data, content_type=content_type): key
        for key, data, content_type in objects
    }
    wait(futures)
    failed = [future for future in futures if future.exception() is not None]
    if failed:
        stored = [key for future, key in futures.items() if future.exception() is None]
        try:
            delete_objects(stored)
        except Exception:
            logger.exception("could not delete %d objects of a failed upload: %s", len(stored), stored)
        failed[0].result()  # raises its error


def delete_objects(keys: list[str]) -> None:
    """Delete `keys` from the bucket (one request); objects already gone are fine."""
    if keys:
        objects: list[dict[str, str]] = [{"Key": key} for key in keys]
        s3_client().delete_objects(Bucket=settings.S3_BUCKET, Delete={"Objects": objects, "Quiet": True})


def purge_cdn(keys: list[str]) -> None:
    """Make the CDN drop its copies of `keys` (see the purge map in deploy/nginx/nginx.conf).

    Best effort, and nothing at all when CDN_PURGE_URL is empty (docs/cdn.md):
    a copy the purge misses is still unreachable by name, as the keys are
    random and never reused, and expires after 30 days unused.
    """
    if not settings.CDN_PURGE_URL:
        return
    for key in keys:
        url = f"{settings.CDN_PURGE_URL}/{key.lstrip('/')}"
        request = urllib.request.Request(url, headers={"X-CDN-Purge": "1"})  # noqa: S310 (our CDN)
        try:
            with urllib.request.urlopen(request, timeout=2):  # noqa: S310
                pass
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                logger.warning("CDN purge of %s answered %s", key, exc.code)
        except OSError as exc:
            logger.warning("CDN purge of %s failed: %s", key, exc)
