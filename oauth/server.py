"""The oauthlib server with Instagram API v1's flows and nothing more."""

from typing import Any

from oauthlib.oauth2 import RequestValidator, Server


class V1Server(Server):  # type: ignore[misc]
    """oauthlib's all-grants server cut down to v1: `code` and `token` at the
    authorization endpoint, `authorization_code` and `password` at the token
    endpoint, and no refresh tokens (v1 tokens lived until revoked).

    Any other grant type is refused by oauthlib as unsupported_grant_type; which
    application may use which of these flows is the validator's business.
    """

    def __init__(self, request_validator: RequestValidator, *args: Any, **kwargs: Any) -> None:
        super().__init__(request_validator, *args, **kwargs)
        self.auth_grant.refresh_token = False
        self.password_grant.refresh_token = False
        self._response_types = {"code": self.auth_grant, "token": self.implicit_grant}
        self._grant_types = {"authorization_code": self.auth_grant, "password": self.password_grant}
