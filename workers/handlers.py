"""Job handlers served by the workers app itself."""

import json
import os

from instagram import rediskeys
from instagram.redis_client import redis_primary
from workers import functions
from workers.jobs import JobArgs, JobContext, job_handler


@job_handler(functions.PING)
def ping(args: JobArgs, ctx: JobContext) -> None:
    """Record which worker ran the ping carrying `args["token"]`; proves the job path end to end."""
    record = {"worker": ctx.worker_id, "pid": os.getpid(), "job_id": ctx.job_id, "request_id": ctx.request_id}
    redis_primary().set(rediskeys.worker_ping(str(args["token"])), json.dumps(record), ex=86400)
