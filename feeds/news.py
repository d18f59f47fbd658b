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
from typing import Any

from django.conf import settings

from instagram import rediskeys
from instagram.redis_client import by_feed_shard, feed_primary, feed_redis

YOU = "you"
FOLLOWING = "following"
TABS = (YOU, FOLLOWING)


def entry_json(entry: dict[str, Any]) -> str:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"))


def add(*, user_ids: Sequence[int], tab: str, entry: dict[str, Any], at_ms: int, batch: int = 500) -> None:
    """Put `entry` at time `at_ms` in each user's `tab` list, trimmed to NEWS_SIZE (pipelined)."""
    member = entry_json(entry)
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
    members: list[bytes] = client.zrange(key, 0, -1)  # type: ignore[assignment]
    gone = [m for m in members if json.loads(m).get("id") == event_id]
    if gone:
        client.zrem(key, *gone)


def page(*, user_id: int, tab: str, before_ms: int | None, count: int) -> list[tuple[dict[str, Any], int]]:
    """The newest `count` entries (entry, at_ms) of one list, strictly before `before_ms`."""
    high = f"({before_ms}" if before_ms is not None else "+inf"
    raw: list[tuple[bytes, float]] = feed_redis(user_id).zrevrangebyscore(  # type: ignore[assignment]
        rediskeys.news(user_id, tab), high, "-inf", start=0, num=count, withscores=True
    )
    return [(json.loads(member), int(score)) for member, score in raw]


PERSON_KEYS = ("actor_id", "owner_id", "target_id")


def remove_naming(*, user_ids: Sequence[int], person_id: int) -> int:
    """Remove from both lists of each of `user_ids` every entry naming `person_id` (a deleted account)."""
    removed = 0
    for user_id in user_ids:
        client = feed_redis(user_id)
        for tab in TABS:
            key = rediskeys.news(user_id, tab)
            members: list[bytes] = client.zrange(key, 0, -1)  # type: ignore[assignment]
            gone = [m for m in members if names(json.loads(m), person_id)]
            if gone:
                removed += int(client.zrem(key, *gone))
    return removed


def names(entry: dict[str, Any], person_id: int) -> bool:
    return any(str(entry.get(key)) == str(person_id) for key in PERSON_KEYS)
