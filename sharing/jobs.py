"""The payload of the share job (sharing.handlers)."""

from dataclasses import dataclass

from workers import functions
from workers.jobs import JobPayload


@dataclass(frozen=True, kw_only=True)
class ShareMedia(JobPayload):
    """Post `media_id` to its owner's linked account on `service` (twitter, facebook)."""

    function = functions.SHARE

    media_id: int
    service: str
