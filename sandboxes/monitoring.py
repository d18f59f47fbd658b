"""The Sentry and PagerDuty sandboxes: what error reports and alerts would reach.

Sentry plays the ingest API that sentry-sdk posts to: `POST
/api/<project>/envelope/`, authenticated by `X-Sentry-Auth: Sentry
sentry_key=<key>, ...` (or `?sentry_key=`), the body an envelope (a JSON
header line, then items, each a JSON header line and a payload of its
`length` or up to the next newline), gzip- or deflate-compressed or not.
An accepted envelope answers 200 `{"id": <event id>}`; a missing key 401,
another path 404, a body that is not an envelope 400, each with Sentry's
`{"detail": ...}`. The log (`sentry.jsonl`) has one line per envelope: the
project, the key, the envelope's header and every item's header and
payload (events as JSON), so a test reads what sentry-sdk sent.

PagerDuty plays the Events API v2: `POST /v2/enqueue` with a JSON event,
checked as PagerDuty checks it (routing_key; event_action trigger,
acknowledge or resolve; dedup_key, required but for a trigger, at most 255
characters; a trigger's payload with summary of at most 1024 characters,
source, and severity critical, error, warning or info; custom_details an
object). A valid event answers 202 `{"status": "success", "message": "Event
processed", "dedup_key": ...}` (a trigger without one gets a new key), an
invalid one 400 `{"status": "invalid event", "message": "Event object is
invalid", "errors": [...]}`. The log (`pagerduty.jsonl`) has the event with
its routing key replaced by `routing_key_sha256` (the first 16 hex digits).
"""

import gzip
import hashlib
import json
import logging
import re
import time
import uuid
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sandboxes.records import record, send_json

logger = logging.getLogger(__name__)

MAX_BODY = 20 * 1024 * 1024  # Sentry's limit for a compressed envelope
ENVELOPE_PATH = re.compile(r"/api/(\d+)/envelope/?")
SENTRY_KEY = re.compile(r"sentry_key=([^,\s&]+)")
EVENT_ACTIONS = {"trigger", "acknowledge", "resolve"}
SEVERITIES = {"critical", "error", "warning", "info"}

Answer = tuple[int, dict[str, Any]]


class Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


# ------------------------------------------------------------------ Sentry


def parse_envelope(data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return an envelope's header and its items (`{"headers": ..., "payload": ...}`)."""
    header_line, _, rest = data.partition(b"\n")
    header = json.loads(header_line)
    if not isinstance(header, dict):
        raise ValueError("the envelope header is not an object")
    items: list[dict[str, Any]] = []
    while rest.strip():
        item_line, _, rest = rest.partition(b"\n")
        if not item_line.strip():
            continue
        item_header = json.loads(item_line)
        if not isinstance(item_header, dict) or "type" not in item_header:
            raise ValueError("an item header without a type")
        if "length" in item_header:
            length = int(item_header["length"])
            raw, rest = rest[:length], rest[length:]
            if len(raw) != length:
                raise ValueError("an item shorter than its length")
            rest = rest.removeprefix(b"\n")
        else:
            raw, _, rest = rest.partition(b"\n")
        payload: Any
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = raw.decode("utf-8", errors="replace")
        items.append({"headers": item_header, "payload": payload})
    return header, items


def _decompress(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    raise Refused(415, f"unsupported Content-Encoding {encoding}")


def sentry_answer(method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Answer:
    """Answer one ingest request; record an accepted envelope."""
    match = ENVELOPE_PATH.fullmatch(path)
    if method != "POST" or match is None:
        return 404, {"detail": "not found"}
    key = SENTRY_KEY.search(headers.get("x-sentry-auth", "")) or SENTRY_KEY.search(query)
    if key is None:
        return 401, {"detail": "missing authorization information"}
    try:
        header, items = parse_envelope(_decompress(body, headers.get("content-encoding", "")))
    except Refused as refused:
        return refused.status, {"detail": refused.detail}
    except (ValueError, OSError, EOFError) as exc:
        return 400, {"detail": f"invalid envelope: {exc}"}
    return 200, {
        "id": header.get("event_id") or uuid.uuid4().hex,
        "record": {"project": match.group(1), "sentry_key": key.group(1), "header": header, "items": items},
    }


# --------------------------------------------------------------- PagerDuty


def fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def event_errors(event: Any) -> list[str]:
    """Return what is wrong with an Events API v2 event, as PagerDuty words it (nothing: valid)."""
    if not isinstance(event, dict):
        return ["Event object is not a JSON object"]
    errors: list[str] = []
    if not isinstance(event.get("routing_key"), str) or not event["routing_key"]:
        errors.append("'routing_key' is missing or blank")
    action = event.get("event_action")
    if action not in EVENT_ACTIONS:
        errors.append("'event_action' is missing or invalid")
    dedup_key = event.get("dedup_key")
    if dedup_key is not None and (not isinstance(dedup_key, str) or len(dedup_key) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not dedup_key:
        errors.append("'dedup_key' is required for this event_action")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            return [*errors, "'payload' is missing or not an object"]
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary or len(summary) > 1024:
            errors.append("'payload.summary' is missing, blank or longer than 1024 characters")
        if not isinstance(payload.get("source"), str) or not payload["source"]:
            errors.append("'payload.source' is missing or blank")
        if payload.get("severity") not in SEVERITIES:
            errors.append("'payload.severity' must be critical, error, warning or info")
        if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
            errors.append("'payload.custom_details' must be an object")
    return errors


def pagerduty_answer(method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Answer:
    if method != "POST" or path != "/v2/enqueue":
        return 404, {"status": "not found", "message": "Not Found"}
    try:
        event = json.loads(body)
    except ValueError:
        return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": ["not JSON"]}
    errors = event_errors(event)
    logged = dict(event) if isinstance(event, dict) else {"body": event}
    if isinstance(logged.get("routing_key"), str):
        logged["routing_key_sha256"] = fingerprint(logged.pop("routing_key"))
    if errors:
        return 400, {
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": errors,
            "record": logged,
        }
    dedup_key = event.get("dedup_key") or uuid.uuid4().hex
    return 202, {
        "status": "success",
        "message": "Event processed",
        "dedup_key": dedup_key,
        "record": {**logged, "dedup_key": dedup_key},
    }


# ------------------------------------------------------------------ server

SERVICES: dict[str, Callable[[str, str, str, dict[str, str], bytes], Answer]] = {
    "sentry": sentry_answer,
    "pagerduty": pagerduty_answer,
}


def _handler(service: str, directory: Path) -> type[BaseHTTPRequestHandler]:
    answer = SERVICES[service]

    class Handler(BaseHTTPRequestHandler):
        server_version = f"{service}-sandbox"
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(length, MAX_BODY))
            path, _, query = self.path.partition("?")
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, response = answer(self.command, path, query, headers, body)
            logged = response.pop("record", None)
            if logged is not None:
                record(directory, service, {"time": time.time(), "path": path, "status": status, **logged})
            send_json(self, status, response, content_type="application/json")

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the request line may carry a key in its query string

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            logger.info("%s %s %s -> %s", service, self.command, self.path.partition("?")[0], code)

    return Handler


def server(*, service: str, port: int, directory: Path) -> ThreadingHTTPServer:
    """Return `service`'s sandbox bound to 127.0.0.1:`port` (listening; serve_forever serves it)."""
    if service not in SERVICES:
        raise ValueError(f"no sandbox for {service!r}; one of {', '.join(SERVICES)}")
    bound = ThreadingHTTPServer(("127.0.0.1", port), _handler(service, directory))
    bound.daemon_threads = True
    logger.info("%s sandbox on 127.0.0.1:%d, recording to %s", service, port, directory / f"{service}.jsonl")
    return bound
