"""The S3 object store that holds photos (AWS S3, MinIO, or the local server)."""

import json
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from django.conf import settings


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


def ensure_bucket() -> bool:
    """Create the media bucket and its CDN read policy; return True when the bucket was new."""
    client = s3_client()
    created = False
    try:
        client.head_bucket(Bucket=settings.S3_BUCKET)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket"}:
            raise
        client.create_bucket(Bucket=settings.S3_BUCKET)
        created = True
    client.put_bucket_policy(Bucket=settings.S3_BUCKET, Policy=cdn_read_policy(settings.S3_BUCKET))
    return created


def cdn_url(key: str) -> str:
    """Return the public CDN URL of the object stored under `key`."""
    return f"{settings.CDN_URL}/{key.lstrip('/')}"
