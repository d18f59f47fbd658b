"""igctl against the real stack: each subcommand, its effect checked through the API, S3 or Redis."""

import io
from typing import Any

import pytest
from botocore.exceptions import ClientError
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from feeds import store
from photos.imaging import RENDITIONS_STORED
from photos.models import Media
from photos.storage import delete_objects, new_object_prefix, put_object, rendition_key, s3_client
from sharding.routing import shard_for_id
from tests.photos.images import jpeg
from tests.v1 import error


def igctl(*args: str) -> str:
    out = io.StringIO()
    call_command("igctl", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_accounts_list_show_deactivate_reactivate(signup: Any) -> None:
    user, viewer = signup("sunny"), signup("viewer")
    assert f"{user.id}\t{user.username}\t" in igctl("accounts", "list", "--search", user.username)
    shown = igctl("accounts", "show", user.username)
    assert f"id:           {user.id}" in shown
    assert "state:        active" in shown

    assert igctl("accounts", "deactivate", user.id) == f"{user.username} deactivated\n"
    assert error(user.get("users/self")) == (400, "OAuthAccessTokenException")
    assert error(viewer.get(f"users/{user.id}")) == (404, "APINotFoundError")
    assert user.username in igctl("accounts", "list", "--inactive", "--search", user.username)
    assert igctl("accounts", "deactivate", user.username) == f"{user.username} was already deactivated\n"

    assert igctl("accounts", "reactivate", user.username) == f"{user.username} reactivated\n"
    assert user.data("users/self")["username"] == user.username
    assert viewer.data(f"users/{user.id}")["username"] == user.username
    with pytest.raises(CommandError, match="no account nobody_"):
        igctl("accounts", "show", "nobody_at_all")


def test_media_remove(signup: Any) -> None:
    owner, viewer = signup("owner"), signup("viewer")
    media = owner.post_photo(jpeg(200, 200))
    assert igctl("media", "remove", media["id"]) == f"removed media {media['id'].partition('_')[0]}\n"
    assert error(viewer.get(f"media/{media['id']}")) == (404, "APINotFoundError")
    assert viewer.data(f"users/{owner.id}")["counts"]["media"] == 0
    with pytest.raises(CommandError, match="No media"):
        igctl("media", "remove", media["id"])


def _exists(key: str) -> bool:
    try:
        s3_client().head_object(Bucket=settings.S3_BUCKET, Key=key)
    except ClientError:
        return False
    return True


def test_media_orphans_finds_and_deletes_both_kinds(signup: Any) -> None:
    owner, viewer = signup("owner"), signup("viewer")
    stray = new_object_prefix()
    put_object(
        key=rendition_key(stray, "original"), data=b"left by a crashed upload", content_type="image/jpeg"
    )
    media = owner.post_photo(jpeg(200, 200))
    media_id = int(media["id"].partition("_")[0])
    with shard_for_id(media_id, read_only=True):
        prefix = Media.objects.get(id=media_id).object_prefix
    delete_objects([rendition_key(prefix, name) for name in RENDITIONS_STORED])

    young = igctl("media", "orphans")  # the default --min-age leaves a fresh upload's objects
    assert f"s3 {stray}/" not in young
    assert f"media {media_id}\n" in young
    listed = igctl("media", "orphans", "--min-age", "0")
    assert f"s3 {stray}/ (1 object(s))" in listed
    assert _exists(rendition_key(stray, "original"))

    igctl("media", "orphans", "--min-age", "0", "--delete")
    assert not _exists(rendition_key(stray, "original"))
    assert error(viewer.get(f"media/{media['id']}")) == (404, "APINotFoundError")
    assert viewer.data(f"users/{owner.id}")["counts"]["media"] == 0
    after = igctl("media", "orphans", "--min-age", "0")
    assert f"media {media_id}\n" not in after
    assert stray not in after


def test_feeds_rebuild(signup: Any) -> None:
    owner, follower = signup("owner"), signup("follower")
    follower.act(owner, "follow")
    media_id = int(owner.post_photo(jpeg(200, 200))["id"].partition("_")[0])
    # As after Redis lost it: fan-outs add to built feeds only, so it stays empty until rebuilt.
    store.drop(user_id=int(follower.id))
    assert store.feed_ids(int(follower.id)) == []
    assert "rebuilt 1 feed(s)" in igctl("feeds", "rebuild", follower.username)
    assert media_id in store.feed_ids(int(follower.id))
    with pytest.raises(CommandError, match="name the users"):
        igctl("feeds", "rebuild")


def test_reports_list(signup: Any) -> None:
    owner, reporter = signup("owner"), signup("reporter")
    assert reporter.post(f"users/{owner.id}/report", reason="impersonation").status_code == 201
    line = f"user:{owner.id}\timpersonation\t{owner.username}\tby {reporter.username}\topen"
    assert line in igctl("reports", "list")
    igctl("accounts", "deactivate", owner.username)
    assert line not in igctl("reports", "list")
    assert f"by {reporter.username}\tdeactivated" in igctl("reports", "list", "--all")
