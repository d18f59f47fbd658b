"""The sandboxes' request log: one JSON object per line, one file per service."""

import json
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

_lock = threading.Lock()


def record(directory: Path, service: str, entry: dict[str, Any]) -> None:
    """Append `entry` to `service`'s log in `directory`."""
    line = json.dumps(entry, sort_keys=True, separators=(",", ":"))
    with _lock, (directory / f"{service}.jsonl").open("a", encoding="utf-8") as log:
        log.write(line + "\n")


def read(directory: Path, service: str) -> list[dict[str, Any]]:
    """Every request `service` recorded so far, oldest first."""
    path = directory / f"{service}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def send_json(handler: BaseHTTPRequestHandler, status: int, answer: Any, *, content_type: str) -> None:
    """Answer `handler`'s request with `answer` as JSON."""
    data = json.dumps(answer).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
