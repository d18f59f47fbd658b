"""Retries with backoff, kept in Redis until due, then submitted to gearmand again.

Gearman has no delayed jobs, so a failed attempt is written to one sorted
set (score: when it is due) and every worker, between jobs, moves the due
ones back into gearmand. Only one worker pumps at a time (a short lock);
an entry leaves the set only after gearmand took it, so a worker dying in
between at worst submits it twice, which idempotent handlers absorb.
"""

import json
import logging
import random
import time
from typing import cast

from django.conf import settings

from instagram import rediskeys
from instagram.redis_client import redis_primary
from workers.jobs import Payload
from workers.transport import submit_payload_rollback_unsafe

logger = logging.getLogger(__name__)

MAX_DELAY_SECONDS = 3600.0
PUMP_BATCH = 100


def backoff_seconds(attempt: int) -> float:
    """Delay before attempt `attempt + 1`: the base doubling per attempt, with jitter, at most an hour."""
    delay = settings.JOB_RETRY_SECONDS * 2 ** (attempt - 1)
    return float(min(delay * random.uniform(1.0, 1.5), MAX_DELAY_SECONDS))  # noqa: S311 (jitter, not a secret)


def schedule_retry(*, function: str, payload: Payload, delay: float) -> None:
    """Keep `payload` (already numbered as its next attempt) until `delay` seconds from now."""
    member = json.dumps({"function": function, "payload": payload.encode()}, separators=(",", ":"))
    redis_primary().zadd(rediskeys.job_retries(), {member: time.time() + delay})


def pending_retries() -> int:
    return int(redis_primary().zcard(rediskeys.job_retries()))


def pump_due_retries(*, owner: str, now: float | None = None) -> int:
    """Submit every retry that is due; return how many. Cheap when none is: one SET NX."""
    client = redis_primary()
    if not client.set(rediskeys.job_retry_pump_lock(), owner, nx=True, px=5000):
        return 0
    try:
        key = rediskeys.job_retries()
        due = cast(list[str], client.zrangebyscore(key, "-inf", now or time.time(), start=0, num=PUMP_BATCH))
        for member in due:
            entry = json.loads(member)
            submit_payload_rollback_unsafe(entry["function"], Payload.decode(entry["payload"]))
            client.zrem(key, member)
        return len(due)
    finally:
        client.delete(rediskeys.job_retry_pump_lock())
