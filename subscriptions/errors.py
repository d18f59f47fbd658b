from instagram.errors import APIError


class APISubscriptionError(APIError):
    """The callback could not be verified (unreachable, no echo of hub.challenge) or may not be called."""

    error_type = "APISubscriptionError"
