"""Drive python-instagram 1.3.2, Instagram's own Python client of the v1 era, unmodified.

Run by tests/clients/test_python_instagram.py in a subprocess whose only
`instagram` package is the client's (from .venv/clients; `python -P`, so this
repository's `instagram` is not on the path). Reads a plan on stdin:

    {"host": "127.0.0.1:28000", "protocol": "http",
     "steps": [{"call": "user_media_feed", "args": [], "kwargs": {"count": 5},
                "client_id": "...", "client_secret": null, "access_token": "..."}]}

and writes one result per step on stdout: {"ok": <the client's return value as
plain JSON>}, {"api_error": [status, error_type, error_message]} for the
client's InstagramAPIError, or {"client_error": "..."} for anything else the
client raised. The objects the client built (User, Media, Comment...) are
turned into their attributes, so the test sees what an app of the era saw.
"""

import datetime
import importlib
import json
import sys
from typing import Any


def plain(value: Any) -> Any:
    """The client's return value as JSON: its model objects as dicts of their attributes."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    return {"__class__": type(value).__name__, **{k: plain(v) for k, v in vars(value).items()}}


def main() -> None:
    client = importlib.import_module("instagram.client")
    bind = importlib.import_module("instagram.bind")
    oauth2 = importlib.import_module("instagram.oauth2")
    plan = json.load(sys.stdin)
    results = []
    for step in plan["steps"]:
        api = client.InstagramAPI(
            client_id=step.get("client_id"),
            client_secret=step.get("client_secret"),
            access_token=step.get("access_token"),
            redirect_uri=step.get("redirect_uri"),
        )
        # Where the API is: what an app of the era pointed at api.instagram.com.
        api.host = plan["host"]
        api.protocol = plan["protocol"]
        api.access_token_url = f"{plan['protocol']}://{plan['host']}/oauth/access_token"
        try:
            method = getattr(api, step["call"])
            result = method(*step.get("args", []), **step.get("kwargs", {}))
            results.append({"ok": plain(result)})
        except bind.InstagramAPIError as exc:
            results.append({"api_error": [int(exc.status_code), exc.error_type, exc.error_message]})
        except (bind.InstagramClientError, oauth2.OAuth2AuthExchangeError) as exc:
            results.append({"client_error": str(exc)})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
