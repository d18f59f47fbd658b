"""The Twitter and Facebook sandboxes: small HTTP servers that answer like the real APIs.

Twitter plays `POST /1.1/statuses/update.json` (form field `status`, at most
140 characters as in 2011) behind OAuth 1.0a: the `Authorization: OAuth ...`
header must carry every protocol parameter, the local consumer key
(`local-consumer-key`, settings' default) and a valid HMAC-SHA1 signature.
A sandbox cannot know a user's token secret, so the convention is that the
secret of token `T` is `secret-for-T`; sign with another and the answer is
Twitter's 401 "Could not authenticate you" (code 32). A post answers
`{"id_str": ...}`.

Facebook plays the Graph API's `POST /me/photos` (`url`, `message`) and
`POST /me/feed` (`message`, `link`), the `access_token` in the form or the
query string; a post answers `{"id": ...}`.

Tokens choose the outcome, for tests and for trying failures by hand:

- `fail-...`: every request gets a 500;
- `flaky-...`: the first request with that token gets a 500 (503 on
  Twitter: "over capacity"), the next ones succeed;
- `revoked-...`: a 401 with the service's own error JSON (Twitter's
  `{"errors": [{"code": 89, ...}]}`, Facebook's OAuthException code 190);
- anything else succeeds.

Every request is recorded as one JSON line in `<directory>/<service>.jsonl`
(sandboxes.records): method, path, query and form fields, headers, the
OAuth parameters and whether the signature verified, the status answered.
Tokens, token secrets and signatures are never recorded nor logged; a
request's token appears as `token_sha256` (the first 16 hex digits), which
a test can compute from the token it linked.
"""

import hashlib
import hmac
import logging
import secrets
import threading
import time
import unicodedata
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from oauthlib.oauth1.rfc5849 import signature as oauth_signature
from oauthlib.oauth1.rfc5849.utils import parse_authorization_header

from sandboxes.records import record, send_json

logger = logging.getLogger(__name__)

SERVICES = ("twitter", "facebook")
CONSUMER_KEY = "local-consumer-key"
CONSUMER_SECRET = "local-consumer-secret"  # noqa: S105 (the sandbox's own, as in settings' default)
TOKEN_SECRET_PREFIX = "secret-for-"  # noqa: S105
OAUTH_PARAMETERS = (
    "oauth_consumer_key",
    "oauth_nonce",
    "oauth_signature",
    "oauth_signature_method",
    "oauth_timestamp",
    "oauth_token",
    "oauth_version",
)
MAX_CLOCK_SKEW = 300  # seconds; Twitter refuses older or newer timestamps
MAX_TWEET = 140
MAX_BODY = 1024 * 1024
SECRET_FIELDS = {"access_token", "oauth_token", "oauth_signature"}


def token_secret(token: str) -> str:
    """Return the token secret the sandbox expects with `token` (the convention above)."""
    return f"{TOKEN_SECRET_PREFIX}{token}"


def fingerprint(token: str) -> str:
    """Return how a token appears in the request log."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


Answer = tuple[int, dict[str, Any]]


class _Outcomes:
    """What a token's prefix makes of a request; remembers which flaky tokens already failed once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failed_once: set[str] = set()

    def forced(self, token: str) -> str | None:
        """Return "fail", "revoked" or None (answer normally) for this request with `token`."""
        if token.startswith("fail-"):
            return "fail"
        if token.startswith("revoked-"):
            return "revoked"
        if token.startswith("flaky-"):
            with self._lock:
                if token not in self._failed_once:
                    self._failed_once.add(token)
                    return "fail"
        return None


def _twitter_error(status: int, code: int, message: str) -> Answer:
    return status, {"errors": [{"code": code, "message": message}]}


def _facebook_error(status: int, code: int, message: str, **more: Any) -> Answer:
    return status, {"error": {"message": message, "type": "OAuthException", "code": code, **more}}


def _new_id() -> str:
    return str(secrets.randbits(62))


class _Request:
    """What a handler reads of one request."""

    def __init__(self, *, method: str, url: str, host: str, headers: dict[str, str], body: bytes) -> None:
        parts = urlsplit(url)
        self.method = method
        self.path = parts.path
        self.query_string = parts.query
        self.query = parse_qsl(parts.query, keep_blank_values=True)
        self.host = host
        self.headers = headers
        is_form = headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded")
        self.form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True) if is_form else []
        self.notes: dict[str, Any] = {}  # what the handler adds to the log entry

    def field(self, name: str) -> str | None:
        for key, value in [*self.form, *self.query]:
            if key == name:
                return value
        return None


class _Twitter:
    def __init__(self) -> None:
        self.outcomes = _Outcomes()

    def answer(self, request: _Request) -> Answer:
        if (request.method, request.path) != ("POST", "/1.1/statuses/update.json"):
            return _twitter_error(404, 34, "Sorry, that page does not exist.")
        header = request.headers.get("Authorization", "")
        if not header.startswith("OAuth "):
            return _twitter_error(400, 215, "Bad Authentication data.")
        try:
            oauth = {key: unquote(value) for key, value in parse_authorization_header(header)}
        except ValueError:
            return _twitter_error(400, 215, "Bad Authentication data.")
        token = oauth.get("oauth_token", "")
        request.notes["token_sha256"] = fingerprint(token) if token else None
        request.notes["oauth"] = {k: v for k, v in oauth.items() if k not in SECRET_FIELDS}
        valid = self._authentic(request, oauth, header)
        request.notes["oauth"]["valid"] = valid
        if not valid:
            return _twitter_error(401, 32, "Could not authenticate you.")
        forced = self.outcomes.forced(token)
        if forced == "revoked":
            return _twitter_error(401, 89, "Invalid or expired token.")
        if forced == "fail":
            if token.startswith("flaky-"):
                return _twitter_error(503, 130, "Over capacity.")
            return _twitter_error(500, 131, "Internal error.")
        status = request.field("status")
        if not status:
            return _twitter_error(400, 38, "status parameter missing.")
        if len(unicodedata.normalize("NFC", status)) > MAX_TWEET:
            return _twitter_error(403, 186, f"Status is over {MAX_TWEET} characters.")
        tweet_id = _new_id()
        return 200, {
            "id": int(tweet_id),
            "id_str": tweet_id,
            "text": status,
            "created_at": datetime.now(tz=UTC).strftime("%a %b %d %H:%M:%S +0000 %Y"),
            "user": {"id_str": str(int(fingerprint(token), 16)), "screen_name": "sandbox"},
        }

    def _authentic(self, request: _Request, oauth: dict[str, str], header: str) -> bool:
        """Check the OAuth 1.0a parameters and the HMAC-SHA1 signature (RFC 5849 section 3.4)."""
        if any(not oauth.get(name) for name in OAUTH_PARAMETERS):
            return False
        if oauth["oauth_consumer_key"] != CONSUMER_KEY or oauth["oauth_version"] != "1.0":
            return False
        if oauth["oauth_signature_method"] != "HMAC-SHA1" or not oauth["oauth_timestamp"].isdigit():
            return False
        if abs(time.time() - int(oauth["oauth_timestamp"])) > MAX_CLOCK_SKEW:
            return False
        parameters = oauth_signature.collect_parameters(
            uri_query=request.query_string,
            body=request.form,
            headers={"Authorization": header},
            exclude_oauth_signature=True,
        )
        base = oauth_signature.signature_base_string(
            request.method,
            oauth_signature.base_string_uri(f"http://{request.host}{request.path}"),
            oauth_signature.normalize_parameters(parameters),
        )
        expected = oauth_signature.sign_hmac_sha1(base, CONSUMER_SECRET, token_secret(oauth["oauth_token"]))
        return hmac.compare_digest(expected, oauth["oauth_signature"])


class _Facebook:
    def __init__(self) -> None:
        self.outcomes = _Outcomes()

    def answer(self, request: _Request) -> Answer:
        if request.method != "POST" or request.path not in ("/me/photos", "/me/feed"):
            return _facebook_error(404, 2500, "Unknown path components: " + request.path[:80])
        token = request.field("access_token") or ""
        request.notes["token_sha256"] = fingerprint(token) if token else None
        if not token:
            return _facebook_error(
                400, 2500, "An active access token must be used to query information about the current user."
            )
        forced = self.outcomes.forced(token)
        if forced == "revoked":
            return _facebook_error(
                401,
                190,
                "Error validating access token: The session has been invalidated.",
                error_subcode=460,
            )
        if forced == "fail":
            return _facebook_error(
                500,
                2,
                "An unexpected error has occurred. Please retry your request later.",
                is_transient=True,
            )
        user = str(int(fingerprint(token), 16))
        if request.path == "/me/photos":
            if not request.field("url"):
                return _facebook_error(400, 324, "(#324) Requires upload file")
            return 200, {"id": _new_id(), "post_id": f"{user}_{_new_id()}"}
        if not request.field("message") and not request.field("link"):
            return _facebook_error(400, 100, "(#100) Missing message or attachment")
        return 200, {"id": f"{user}_{_new_id()}"}


def _handler(service: str, directory: Path) -> type[BaseHTTPRequestHandler]:
    api: _Twitter | _Facebook = _Twitter() if service == "twitter" else _Facebook()

    class Handler(BaseHTTPRequestHandler):
        server_version = f"{service}-sandbox"
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(length, MAX_BODY))
            request = _Request(
                method=self.command,
                url=self.path,
                host=self.headers.get("Host", ""),
                headers=dict(self.headers.items()),
                body=body,
            )
            status, answer = api.answer(request)
            record(
                directory,
                service,
                {
                    "at": datetime.now(tz=UTC).isoformat(),
                    "method": request.method,
                    "path": request.path,
                    "query": {k: v for k, v in request.query if k not in SECRET_FIELDS},
                    "form": {k: v for k, v in request.form if k not in SECRET_FIELDS},
                    "headers": {k: v for k, v in request.headers.items() if k.lower() != "authorization"},
                    "token_sha256": request.notes.get("token_sha256"),
                    "oauth": request.notes.get("oauth"),
                    "status": status,
                    "response": answer,
                },
            )
            send_json(self, status, answer, content_type="application/json; charset=utf-8")

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            # The default logs the request line, whose query string may hold a token.
            pass

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            logger.info("%s %s %s -> %s", service, self.command, urlsplit(self.path).path, code)

    return Handler


def run(*, service: str, port: int, directory: Path) -> None:
    """Serve `service`'s sandbox on 127.0.0.1:`port` until the process ends."""
    if service not in SERVICES:
        raise ValueError(f"no sandbox for {service!r}; one of {', '.join(SERVICES)}")
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(service, directory))
    server.daemon_threads = True
    logger.info("%s sandbox on 127.0.0.1:%d, recording to %s", service, port, directory / f"{service}.jsonl")
    server.serve_forever()
