"""The sandboxes' request log: one JSON object per line, one file per service."""

import json
import threading
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
