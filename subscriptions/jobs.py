"""The payloads of the real-time subscription jobs (subscriptions.handlers)."""

from dataclasses import dataclass

from workers import functions
from workers.jobs import JobPayload


@dataclass(frozen=True, kw_only=True)
class SubscriptionsMatch(JobPayload):
    """Queue an update of `user_id`'s new `media_id` for every subscription it matches."""

    function = functions.SUBSCRIPTIONS_MATCH

    media_id: int
    user_id: int


@dataclass(frozen=True, kw_only=True)
class SubscriptionDeliver(JobPayload):
    """POST the pending updates of one callback (subscriptions.queue's callback key)."""

    function = functions.SUBSCRIPTION_DELIVER

    callback: str
