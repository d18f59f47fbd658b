"""Typed job payloads: each job name's codec round trip, the wire it has always carried, and refusals.

Pure logic (`make test-fast`): no server. The old wire dicts below are what
the submitters sent before the payloads were typed, and what a job queued
in gearmand or the outbox across a deploy still carries.
"""

import json
from typing import Any

import pytest

from feeds import news
from feeds.jobs import (
    Commented,
    FeedFanout,
    FeedRemove,
    MediaDeleted,
    MediaLiked,
    MediaPosted,
    Mentioned,
    NewsFanout,
    RelationshipChanged,
)
from feeds.news import NewsEntry
from push.jobs import PushNotification
from sharing.jobs import ShareMedia
from subscriptions.jobs import SubscriptionDeliver, SubscriptionsMatch
from users.jobs import AccountDelete, PasswordResetMail
from workers import functions
from workers.jobs import REGISTRY, JobPayload, PayloadError, PermanentJobError
from workers.payloads import CacheForget, Ping

pytestmark = pytest.mark.fast  # pure logic: `make test-fast`

ENTRY = NewsEntry(id="like:12:7", type=news.LIKE, actor_id=7, media_id=12, owner_id=9)

# One job of every name, and the args the wire carries for it (as before the typed payloads).
WIRE: list[tuple[JobPayload, dict[str, Any]]] = [
    (Ping(token="t1"), {"token": "t1"}),
    (
        Ping(token="t2", fail_attempts=2, permanent=True),
        {"token": "t2", "fail_attempts": 2, "permanent": True},
    ),
    (CacheForget(namespace="user", ids=(3, 5)), {"namespace": "user", "ids": [3, 5]}),
    (MediaPosted(media_id=12, user_id=9), {"media_id": 12, "user_id": 9}),
    (MediaDeleted(media_id=12, user_id=9), {"media_id": 12, "user_id": 9}),
    (
        MediaLiked(media_id=12, user_id=7, owner_id=9, like_id=44),
        {"media_id": 12, "user_id": 7, "owner_id": 9, "like_id": 44},
    ),
    (
        Commented(media_id=12, comment_id=13, user_id=7, owner_id=9),
        {"media_id": 12, "comment_id": 13, "user_id": 7, "owner_id": 9},
    ),
    (
        Mentioned(media_id=12, actor_id=7, user_ids=(8, 9)),
        {"media_id": 12, "actor_id": 7, "user_ids": [8, 9]},
    ),
    (
        Mentioned(media_id=12, actor_id=7, user_ids=(8,), comment_id=13),
        {"media_id": 12, "actor_id": 7, "user_ids": [8], "comment_id": 13},
    ),
    (
        RelationshipChanged(actor_id=7, target_id=9, action="follow", before=(), after=("follows",)),
        {"actor_id": 7, "target_id": 9, "action": "follow", "before": [], "after": ["follows"]},
    ),
    (
        RelationshipChanged(
            actor_id=7, target_id=9, action="follow", before=(), after=("follows",), at_ms=1_322_697_600_000
        ),
        {
            "actor_id": 7,
            "target_id": 9,
            "action": "follow",
            "before": [],
            "after": ["follows"],
            "at_ms": 1_322_697_600_000,
        },
    ),
    (
        FeedFanout(media_id=12, owner_id=9, after_edge=0, last_edge=40),
        {"media_id": 12, "owner_id": 9, "after_edge": 0, "last_edge": 40},
    ),
    (
        FeedRemove(media_ids=(12,), owner_id=9, after_edge=40, last_edge=80),
        {"media_ids": [12], "owner_id": 9, "after_edge": 40, "last_edge": 80},
    ),
    (
        NewsFanout(actor_id=7, entry=ENTRY, at_ms=1_700_000_000_000, after_edge=0, last_edge=40),
        {
            "actor_id": 7,
            "entry": ENTRY.as_dict(),
            "at_ms": 1_700_000_000_000,
            "after_edge": 0,
            "last_edge": 40,
        },
    ),
    (
        PushNotification(recipient_id=9, kind="like", actor_id=7, media_id="12", event="like:12:7:44"),
        {"recipient_id": 9, "kind": "like", "actor_id": 7, "media_id": "12", "event": "like:12:7:44"},
    ),
    (
        PushNotification(recipient_id=9, kind="follow", actor_id=7),
        {"recipient_id": 9, "kind": "follow", "actor_id": 7},
    ),
    (ShareMedia(media_id=12, service="twitter"), {"media_id": 12, "service": "twitter"}),
    (SubscriptionsMatch(media_id=12, user_id=9), {"media_id": 12, "user_id": 9}),
    (SubscriptionDeliver(callback="cb:1"), {"callback": "cb:1"}),
    (AccountDelete(user_id=9), {"user_id": 9}),
    (PasswordResetMail(user_id=9), {"user_id": 9}),
]


@pytest.mark.parametrize(("job", "wire"), WIRE, ids=lambda value: type(value).__name__)
def test_each_payload_encodes_to_the_wire_it_always_had_and_decodes_back(
    job: JobPayload, wire: dict[str, Any]
) -> None:
    assert job.to_args() == wire
    assert type(job).from_args(json.loads(json.dumps(wire))) == job


def test_every_job_name_has_one_payload_class_and_its_handler_takes_it() -> None:
    names = {value for key, value in vars(functions).items() if key.isupper()}
    classes = {type(job) for job, _ in WIRE}
    assert {cls.function for cls in classes} == names
    assert len(classes) == len(names)
    for cls in classes:
        assert REGISTRY[cls.function].payload_type is cls


def test_ids_written_as_decimal_strings_are_read_as_ids() -> None:
    """Handlers before the typed payloads read ids with int(): a job queued then still runs."""
    assert MediaPosted.from_args({"media_id": "12", "user_id": "9"}) == MediaPosted(media_id=12, user_id=9)
    assert Mentioned.from_args({"media_id": 1, "actor_id": 2, "user_ids": ["3"]}).user_ids == (3,)


def test_optional_fields_absent_or_null_take_their_default() -> None:
    assert MediaLiked.from_args({"media_id": 1, "user_id": 2, "owner_id": 3}).like_id is None
    assert MediaLiked.from_args({"media_id": 1, "user_id": 2, "owner_id": 3, "like_id": None}).like_id is None
    assert Ping.from_args({"token": "t", "fail_attempts": None}).fail_attempts == 0


@pytest.mark.parametrize(
    ("cls", "args", "message"),
    [
        (MediaPosted, {"media_id": 1, "user_id": 2, "colour": "red"}, r"unknown fields \['colour'\]"),
        (MediaPosted, {"media_id": 1}, "user_id is missing"),
        (MediaPosted, {"media_id": 1, "user_id": "two"}, "user_id"),
        (MediaPosted, {"media_id": True, "user_id": 2}, "media_id"),
        (MediaPosted, {"media_id": 1.5, "user_id": 2}, "media_id"),
        (MediaPosted, {"media_id": "-1", "user_id": 2}, "media_id"),
        (MediaPosted, [1, 2], "not an object"),
        (Ping, {"token": 5}, "token"),
        (Ping, {"token": "t", "permanent": "yes"}, "permanent"),
        (Mentioned, {"media_id": 1, "actor_id": 2, "user_ids": 3}, "not a list"),
        (Mentioned, {"media_id": 1, "actor_id": 2, "user_ids": [3, "x"]}, "user_ids"),
        (
            NewsFanout,
            {"actor_id": 7, "entry": {"id": "x"}, "at_ms": 1, "after_edge": 0, "last_edge": 1},
            "entry",
        ),
        (
            NewsFanout,
            {
                "actor_id": 7,
                "entry": {**ENTRY.as_dict(), "mood": 1},
                "at_ms": 1,
                "after_edge": 0,
                "last_edge": 1,
            },
            "mood",
        ),
        (NewsFanout, {"actor_id": 7, "entry": "like", "at_ms": 1, "after_edge": 0, "last_edge": 1}, "entry"),
        (PushNotification, {"recipient_id": 9, "kind": "like", "actor_id": 7, "media_id": ["1"]}, "media_id"),
        (SubscriptionDeliver, {"callback": None}, "callback is missing"),
    ],
)
def test_a_payload_that_is_not_its_jobs_is_refused_naming_the_job_and_field(
    cls: type[JobPayload], args: Any, message: str
) -> None:
    with pytest.raises(PayloadError, match=message) as refused:
        cls.from_args(args)
    assert str(refused.value).startswith(cls.function)
    # Retrying cannot help: the runner parks it at once.
    assert isinstance(refused.value, PermanentJobError)


def test_a_submitted_payload_must_survive_its_codec() -> None:
    """A value of the wrong type in Python (an id as text) would change on the way: it fails in the caller."""
    from workers.submit import _checked_payload

    with pytest.raises(PayloadError, match="does not survive its codec"):
        _checked_payload(MediaPosted(media_id="12", user_id=9))  # type: ignore[arg-type]
    function, payload = _checked_payload(MediaPosted(media_id=12, user_id=9))
    assert (function, payload.args) == (functions.MEDIA_POSTED, {"media_id": 12, "user_id": 9})
