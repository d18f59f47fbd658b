"""News ("activity"), as the 2011 app had it: two capped lists per user in Redis.

- "you": what others did concerning you (liked or commented on your photo,
  mentioned you, started following you, asked to follow you);
- "following": what the people you follow did (liked or commented on a
  photo, started following someone).

Each list is a sorted set: member = the entry as canonical JSON, score = the
time in epoch milliseconds (exact as a double). An entry's JSON carries a
stable event id (`like:<media>:<liker>`), so a job run twice writes the
same member twice (no duplicate), and liking again after an unlike moves the
entry to the top instead of adding a second one.
"""

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, cast

from django.conf import settings

from instagram import rediskeys
from instagram.redis_client import by_feed_shard, feed_primary, feed_redis

YOU = "you"
FOLLOWING = "following"
TABS = (YOU, FOLLOWING)


# The kinds of entry, as v1's news showed them.
LIKE, COMMENT, MENTION, FOLLOW, FOLLOW_REQUEST = "like", "comment", "mention", "follow", "follow_request"
KINDS = (LIKE, COMMENT, MENTION, FOLLOW, FOLLOW_REQUEST)


@dataclass(frozen=True, kw_only=True)
class NewsEntry:
    """One news entry: stored as canonical JSON in a list, and carried so by a news_fanout job.

    `id` is the stable event id (`like:<media>:<liker>`). A field left None is
    left out of the JSON, so an entry encodes to the very member written
    before this class existed: dedupe and removal by member keep working.
    The version is the job name's (news_fanout.v1): a field that old
    readers cannot take gets a new job name.
    """

    id: str
    type: str
    actor_id: int
    media_id: int | None = None
    owner_id: int | None = None  # in "following": whose media the actor liked or commented on
    target_id: int | None = None  # in "following": whom the actor started following
    comment_id: int | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        if self.type not in KINDS:
            raise ValueError(f"unknown news entry type {self.type!r}")

    def as_dict(self) -> dict[str, Any]:
        return {name: value for name, value in asdict(self).items() if value is not None}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "NewsEntry":
        """Decode a stored or carried entry; raise ValueError on an unknown field."""
        unknown = set(raw) - {field.name for field in fields(cls)}
        if unknown:
            raise ValueError(f"unknown news entry fields {sorted(unknown)}")

        def number(name: str) -> int | None:
            return int(raw[name]) if raw.get(name) is not None else None

        return cls(
            id=str(raw["id"]),
            type=str(raw["type"]),
            actor_id=int(raw["actor_id"]),
            media_id=number("media_id"),
            owner_id=number("owner_id"),
            target_id=number("target_id"),
            comment_id=number("comment_id"),
            text=str(raw["text"]) if raw.get("text") is not None else None,
        )

    @classmethod
    def from_json(cls, member: str | bytes) -> "NewsEntry":
        return cls.from_dict(json.loads(member))

    def names(self, person_id: int) -> bool:
        """Say whether the entry names `person_id` (as actor, media owner or target)."""
        return person_id in (self.actor_id, self.owner_id, self.target_id)


def add(*, user_ids: Sequence[int], tab: str, entry: NewsEntry, at_ms: int, batch: int = 500) -> None:
    """Put `entry` at time `at_ms` in each user's `tab` list, trimmed to NEWS_SIZE (pipelined)."""
    member = entry.to_json()
    for index, users in by_feed_shard(user_ids).items():
        with feed_primary(index).pipeline(transaction=False) as pipe:
            for start in range(0, len(users), batch):
                for user_id in users[start : start + batch]:
                    key = rediskeys.news(user_id, tab)
                    pipe.zadd(key, {member: at_ms})
                    pipe.zremrangebyrank(key, 0, -(settings.NEWS_SIZE + 1))
                pipe.execute()


def remove_matching(*, user_id: int, tab: str, event_id: str) -> None:
    """Remove the entries with `event_id` from one list (an unlike, a deleted comment)."""
    key = rediskeys.news(user_id, tab)
    client = feed_redis(user_id)
    members = cast(list[bytes], client.zrange(key, 0, -1))
    gone = [m for m in members if NewsEntry.from_json(m).id == event_id]
    if gone:
        client.zrem(key, *gone)


def page(*, user_id: int, tab: str, before_ms: int | None, count: int) -> list[tuple[NewsEntry, int]]:
    """The newest `count` entries (entry, at_ms) of one list, strictly before `before_ms`."""
    high = f"({before_ms}" if before_ms is not None else "+inf"
    raw = cast(
        list[tuple[bytes, float]],
        feed_redis(user_id).zrevrangebyscore(
            rediskeys.news(user_id, tab), high, "-inf", start=0, num=count, withscores=True
        ),
    )
    return [(NewsEntry.from_json(member), int(score)) for member, score in raw]


def remove_naming(*, user_ids: Sequence[int], person_id: int) -> int:
    """Remove from both lists of each of `user_ids` every entry naming `person_id` (a deleted account)."""
    removed = 0
    for user_id in user_ids:
        client = feed_redis(user_id)
        for tab in TABS:
            key = rediskeys.news(user_id, tab)
            members = cast(list[bytes], client.zrange(key, 0, -1))
            gone = [m for m in members if NewsEntry.from_json(m).names(person_id)]
            if gone:
                removed += int(client.zrem(key, *gone))
    return removed
