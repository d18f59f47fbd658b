"""verify_relationships finds pairs half-written by a crash between two shards' commits, and repairs them.

The command scans every shard: the suite runs serially, so no other test
is half-way through a relationship change meanwhile.
"""

from io import StringIO
from typing import Any

from django.core.management import CommandError, call_command
from django.db.models import F

from relationships.models import Edge, Kind
from sharding.routing import shard_for_user
from users.models import User


def verify(*args: str) -> str:
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_relationships", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return f"FAILED {exc}\n{err.getvalue()}"
    return out.getvalue() + err.getvalue()


def test_half_written_pairs_are_found_and_repaired(signup: Any) -> None:
    a, b, c, d = (signup("half") for _ in range(4))
    low, high = sorted((int(a.id), int(b.id)))
    # Crash after the higher user's shard and the counts committed, before the lower user's shard:
    # only "high followed_by low" exists, and both counts moved.
    with shard_for_user(high):
        Edge.objects.create(user_id=high, other_id=low, kind=Kind.FOLLOWED_BY)
    User.objects.filter(id=low).update(follows_count=F("follows_count") + 1)
    User.objects.filter(id=high).update(followed_by_count=F("followed_by_count") + 1)
    # The other way round (lower half committed, mirror lost): "c follows d" only on the lower shard.
    low2, high2 = sorted((int(c.id), int(d.id)))
    with shard_for_user(low2):
        Edge.objects.create(user_id=low2, other_id=high2, kind=Kind.FOLLOWS)

    found = verify()
    assert found.startswith("FAILED")
    assert f"user {high} followed_by {low}: no mirror" in found
    assert f"user {low2} follows {high2}: no mirror" in found
    assert f"user {low}: stored counts differ" in found  # counted a follow it has no edge for

    assert "repaired" in verify("--repair")
    assert "every edge has its mirror" in verify()
    # The lower user's half won: the first follow never happened, the second did.
    assert a.data(f"users/{b.id}/relationship")["outgoing_status"] == "none"
    assert b.data(f"users/{a.id}/relationship")["incoming_status"] == "none"
    assert User.objects.get(id=high).followed_by_count == 0
    lower, higher = (c, d) if int(c.id) == low2 else (d, c)
    assert higher.data(f"users/{lower.id}/relationship")["incoming_status"] == "followed_by"
    assert User.objects.get(id=high2).followed_by_count == 1
    assert User.objects.get(id=low2).follows_count == 1
