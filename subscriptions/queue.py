"""Updates on their way to callbacks, in Redis: a pending list per callback, a batch per deliver job.

A media's updates are pushed onto the pending list of each callback they go
to (one app's callback URL: its updates are signed with that app's secret),
once per media however often its match job runs. A deliver job moves up to
MAX_BATCH of them, atomically, into a batch stored under its own job id and
POSTs that: a retry of the job (same id) finds the batch and sends the very
same updates, so none is lost or sent twice by the retries, and a deliver
job that finds nothing pending (another took it) does nothing. The batch is
deleted once delivered; if every attempt fails it stays until BATCH_TTL, so
replaying the job's dead letter (same job id) still sends it.

Bounds: a pending list keeps the newest MAX_PENDING updates and expires
after PENDING_TTL without a new one, so a callback that is gone for good
costs bounded memory.
"""

import hashlib
import json

from instagram import rediskeys
from instagram.redis_client import redis_primary

MAX_BATCH = 100  # updates in one POST
MAX_PENDING = 10_000  # per callback; older updates are dropped beyond it
PENDING_TTL = 3 * 86400
BATCH_TTL = 7 * 86400
MATCHED_TTL = 86400

# KEYS: the media's matched flag, then pending lists. ARGV: flag TTL, cap, list TTL, then one
# JSON array of updates (each a JSON string) per list.
_ENQUEUE = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
local cap, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 2, #KEYS do
  for _, update in ipairs(cjson.decode(ARGV[i + 2])) do redis.call('RPUSH', KEYS[i], update) end
  redis.call('LTRIM', KEYS[i], -cap, -1)
  redis.call('EXPIRE', KEYS[i], ttl)
end
return 1
"""

# KEYS: pending list, the job's batch. ARGV: batch size, batch TTL.
_TAKE = """
local batch = redis.call('LRANGE', KEYS[2], 0, -1)
if #batch > 0 then return batch end
batch = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #batch == 0 then return batch end
redis.call('LTRIM', KEYS[1], #batch, -1)
redis.call('RPUSH', KEYS[2], unpack(batch))
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[2]))
return batch
"""


def callback_key(*, application_id: int, callback_url: str) -> str:
    """Return the id of one app's callback URL: its updates go out together, signed with its secret."""
    return f"{application_id}:{hashlib.sha256(callback_url.encode()).hexdigest()[:32]}"


def enqueue_once(*, media_id: int, updates: dict[str, list[str]]) -> bool:
    """Push `media_id`'s updates (JSON texts by callback key) unless pushed before; say if they were now."""
    if not updates:
        return False
    callbacks = list(updates)
    keys = [rediskeys.subscription_matched(media_id), *(rediskeys.subscription_pending(c) for c in callbacks)]
    lists = [json.dumps(updates[c]) for c in callbacks]
    pushed = redis_primary().eval(_ENQUEUE, len(keys), *keys, MATCHED_TTL, MAX_PENDING, PENDING_TTL, *lists)
    return bool(pushed)


def take_batch(*, callback: str, job_id: str) -> list[str]:
    """Return job `job_id`'s batch: the one it took before, else up to MAX_BATCH taken off `callback`'s."""
    keys = [rediskeys.subscription_pending(callback), rediskeys.subscription_batch(job_id)]
    batch = redis_primary().eval(_TAKE, len(keys), *keys, MAX_BATCH, BATCH_TTL)
    return [item.decode() if isinstance(item, bytes) else str(item) for item in batch]


def finish_batch(*, job_id: str) -> None:
    """Forget job `job_id`'s batch: it was delivered (or has nothing left to deliver)."""
    redis_primary().delete(rediskeys.subscription_batch(job_id))


def pending_count(*, callback: str) -> int:
    return int(redis_primary().llen(rediskeys.subscription_pending(callback)))
