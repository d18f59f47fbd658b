"""Workers' side of the photo jobs.

Each handler re-reads what it needs by id and returns quietly when the row
is gone. Until the feeds issue gives them their work (fan-out, sharing,
subscriptions, news, push), they only record that the job ran, in the
worker's log, which is how the tests see a job submitted after commit
reach a worker.
"""

import logging

from workers import functions
from workers.jobs import JobArgs, JobContext, job_handler

logger = logging.getLogger(__name__)


def _record(ctx: JobContext, args: JobArgs) -> None:
    logger.info(
        "ran %s job %s for media %s (request %s)",
        ctx.function,
        ctx.job_id,
        args.get("media_id"),
        ctx.request_id,
    )


@job_handler(functions.MEDIA_POSTED)
def media_posted(args: JobArgs, ctx: JobContext) -> None:
    _record(ctx, args)


@job_handler(functions.MEDIA_LIKED)
def media_liked(args: JobArgs, ctx: JobContext) -> None:
    _record(ctx, args)


@job_handler(functions.COMMENTED)
def commented(args: JobArgs, ctx: JobContext) -> None:
    _record(ctx, args)


@job_handler(functions.MENTIONED)
def mentioned(args: JobArgs, ctx: JobContext) -> None:
    _record(ctx, args)
