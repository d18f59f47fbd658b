"""Workers' side of sharing: the SHARE job, one per share target of a posted photo."""

from sharing.actions import do_share_media
from sharing.jobs import ShareMedia
from workers.jobs import JobContext, job_handler

# 5 attempts with the runner's doubling backoff: about a minute of outage
# absorbed at the production base of 2 s (2+4+8+16 s, with jitter).
MAX_ATTEMPTS = 5


@job_handler(ShareMedia, max_attempts=MAX_ATTEMPTS)
def share_media(job: ShareMedia, ctx: JobContext) -> None:
    """Post the media to its owner's linked account on `job.service`."""
    do_share_media(media_id=job.media_id, service=job.service, job=ctx)
