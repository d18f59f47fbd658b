"""Workers' side of sharing: the SHARE job, one per share target of a posted photo."""

from sharing.actions import do_share_media
from workers import functions
from workers.jobs import JobArgs, JobContext, PermanentJobError, job_handler

# 5 attempts with the runner's doubling backoff: about a minute of outage
# absorbed at the production base of 2 s (2+4+8+16 s, with jitter).
MAX_ATTEMPTS = 5


@job_handler(functions.SHARE, max_attempts=MAX_ATTEMPTS)
def share_media(args: JobArgs, ctx: JobContext) -> None:
    """{media_id, service}: post the media to its owner's linked account on `service`."""
    media_id, service = args.get("media_id"), args.get("service")
    if not isinstance(media_id, int) or not isinstance(service, str):
        raise PermanentJobError(f"bad share job args: {args!r}")
    do_share_media(media_id=media_id, service=service, job=ctx)
