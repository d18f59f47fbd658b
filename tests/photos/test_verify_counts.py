"""verify_counts finds counters that drifted from their rows; --repair sets them back, cards and profiles too.

The command scans every shard: the suite runs serially, so no other test
is half-way through a write meanwhile.
"""

from io import StringIO
from typing import Any

from django.core.management import CommandError, call_command
from django.db.models import F

from photos.models import Comment, Media
from sharding.routing import shard_for_id
from tests.photos.images import jpeg
from users.models import User


def verify(*args: str) -> str:
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_counts", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return f"FAILED {exc}\n{err.getvalue()}"
    return out.getvalue() + err.getvalue()


def test_drift_is_reported_and_repaired(signup: Any) -> None:
    owner, fan = signup("owner"), signup("fan")
    media = owner.post_photo(jpeg(200, 200))
    media_id = int(media["id"].partition("_")[0])
    assert fan.post(f"media/{media['id']}/likes").status_code == 200
    assert fan.post(f"media/{media['id']}/comments", text="hi").status_code == 200
    fan.act(owner, "follow")
    verify("--repair")  # whatever an earlier run left (a test killed mid-write) is not this test's
    assert "every counter equals its rows" in verify()
    assert owner.data(f"media/{media['id']}")["likes"]["count"] == 1  # the card is cached now

    # A crash's leftovers, written straight to the databases.
    with shard_for_id(media_id):
        Media.objects.filter(id=media_id).update(like_count=5, comment_count=F("comment_count") + 2)
        Comment.objects.create(media_id=media_id, user_id=int(fan.id), text="lost count")
    User.objects.filter(id=int(owner.id)).update(media_count=3, followed_by_count=0)

    found = verify()
    assert found.startswith("FAILED")
    assert f"media {media_id}: 5 likes counted, 1 rows; 3 comments counted, 2 rows" in found
    assert f"user {owner.id}: 3 media counted, 1 rows" in found
    assert f"user {owner.id}: follow counts differ" in found

    assert "repaired 1 media's counts, 1 users' media counts and 1 users' follow counts" in verify("--repair")
    assert "every counter equals its rows" in verify()
    seen = owner.data(f"media/{media['id']}")  # the cached card was dropped
    assert (seen["likes"]["count"], seen["comments"]["count"]) == (1, 2)
    counts = owner.data("users/self")["counts"]
    assert (counts["media"], counts["followed_by"]) == (1, 1)
