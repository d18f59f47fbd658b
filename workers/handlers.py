"""Job handlers served by the workers app itself."""

import json
import os

from instagram import rediskeys
from instagram.redis_client import redis_primary
from instagram.versioned_cache import bump_versions
from workers.jobs import JobContext, PermanentJobError, job_handler
from workers.payloads import CacheForget, Ping


class ProbeFailure(Exception):
    """The failure a ping asked for (`fail_attempts`), to exercise retries end to end."""


@job_handler(Ping, max_attempts=3)
def ping(job: Ping, ctx: JobContext) -> None:
    """Record which worker ran the ping carrying `job.token`; proves the job path end to end.

    Diagnostics: `fail_attempts: n` fails the first n attempts (so the retry
    path can be checked on a live system: `manage.py ping_workers --fail 2`),
    `permanent: true` fails at once for the dead letters. Every attempt is
    appended to the token's attempt log.
    """
    token = job.token
    record = {
        "worker": ctx.worker_id,
        "pid": os.getpid(),
        "job_id": ctx.job_id,
        "request_id": ctx.request_id,
        "attempt": ctx.attempt,
    }
    client = redis_primary()
    attempts_key = rediskeys.worker_ping_attempts(token)
    with client.pipeline() as pipe:
        pipe.rpush(attempts_key, json.dumps(record))
        pipe.expire(attempts_key, 86400)
        pipe.execute()
    if job.permanent:
        raise PermanentJobError("the ping asked to fail permanently")
    if ctx.attempt <= job.fail_attempts:
        raise ProbeFailure(f"the ping asked to fail attempt {ctx.attempt}")
    client.set(rediskeys.worker_ping(token), json.dumps(record), ex=86400)


# Many attempts: a stale copy must not outlive a memcached outage (backoff
# doubles from JOB_RETRY_SECONDS to an hour between attempts).
@job_handler(CacheForget, max_attempts=12)
def cache_forget(job: CacheForget, ctx: JobContext) -> None:
    """Bump the versions a change could not bump at commit; raising (memcached still away) retries."""
    bump_versions(namespace=job.namespace, ids=list(job.ids))
