"""Access tokens in the form v1 handed them out: `<user id>.<app>.<secret part>`.

Instagram's tokens read `1574083.f59def8.2d9e9c0a...`: the user's id, seven
hex digits naming the app, and 32 random hex digits. Clients of the era rely on
the first part: instagram-node's `user_self_media_recent` takes the user id
from the token (`access_token.split('.')[0]`). The random part alone carries
the token's strength (128 bits); the rest is public anyway.
"""

import hashlib
import secrets
from typing import Any


def app_part(client_id: str) -> str:
    """Seven hex digits naming the app (a digest: client ids are not all hex)."""
    return hashlib.sha256(client_id.encode()).hexdigest()[:7]


def v1_access_token(*, user_id: int, client_id: str) -> str:
    return f"{user_id}.{app_part(client_id)}.{secrets.token_hex(16)}"


def generate_access_token(request: Any) -> str:
    """OAUTH2_PROVIDER's ACCESS_TOKEN_GENERATOR: every grant's token in v1's form.

    `request` is oauthlib's: by the time a token is made, the validator has set
    the user (code, implicit and password grants) and the client on it.
    """
    user, client = getattr(request, "user", None), getattr(request, "client", None)
    if user is None or client is None:
        return secrets.token_hex(16)  # no user to name (no such grant is enabled; kept safe anyway)
    return v1_access_token(user_id=user.pk, client_id=client.client_id)
