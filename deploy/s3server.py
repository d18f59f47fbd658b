"""The local S3 server: moto, made durable with its own request recorder.

moto keeps its objects in memory. This launcher records every request moto
serves into <folder>/recording.jsonl (moto's recorder, MOTO_ENABLE_RECORDING),
and at start:

1. compacts the recording to what changes state: PUT, POST and DELETE, less
   the writes of an object that a later PUT or DELETE replaced or removed,
   and those DELETEs themselves;
2. replays it into moto on a private port of its own;
3. only then listens on the stack's S3 port, so the port being open means
   the objects are back (stack.py waits for it).

So photos put into a development stack survive `make stop; make run`.
`stack.py up --fresh` wipes the folder with the rest of var/<profile>.

    python deploy/s3server.py --port 19000 --data var/dev/data/s3
"""

import argparse
import json
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

MUTATING = {"PUT", "POST", "DELETE"}


def object_of(entry: dict[str, Any]) -> str | None:
    """Return the object a request writes whole (a plain PUT or DELETE of a key), or None."""
    url = urlsplit(str(entry.get("url", "")))
    if url.query or entry.get("method") not in {"PUT", "DELETE"}:
        return None  # multipart parts, ACLs, batch deletes, bucket settings: kept in order
    bucket_and_key = url.path.lstrip("/")
    if "/" not in bucket_and_key.rstrip("/"):
        return None  # a bucket, not an object
    host = str(entry.get("headers", {}).get("Host", url.netloc)).split(":")[0]
    return f"{host}{url.path}"


def compact(lines: list[str]) -> list[str]:
    """Return the recorded requests that rebuild the final state, in their order."""
    entries: list[tuple[str, dict[str, Any]]] = []
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash while recording
        if isinstance(entry, dict) and entry.get("method") in MUTATING:
            entries.append((line.rstrip("\n"), entry))
    last: dict[str, int] = {}
    for index, (_, entry) in enumerate(entries):
        target = object_of(entry)
        if target is not None:
            last[target] = index
    kept = []
    for index, (line, entry) in enumerate(entries):
        target = object_of(entry)
        if target is not None and (last[target] != index or entry["method"] == "DELETE"):
            continue
        kept.append(line)
    return kept


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", type=Path, required=True, help="folder of the recording")
    options = parser.parse_args(argv)
    options.data.mkdir(parents=True, exist_ok=True)
    recording = options.data / "recording.jsonl"
    os.environ["MOTO_RECORDER_FILEPATH"] = str(recording)
    os.environ["MOTO_ENABLE_RECORDING"] = "1"

    from moto.moto_api import recorder
    from moto.server import ThreadedMotoServer

    lines = recording.read_text().splitlines() if recording.exists() else []
    kept = compact(lines)
    staged = recording.with_suffix(".jsonl.next")
    staged.write_text("".join(f"{line}\n" for line in kept))
    staged.replace(recording)
    print(f"s3server: replaying {len(kept)} of {len(lines)} recorded requests from {recording}", flush=True)

    # The werkzeug server is threaded: one recorded line at a time.
    lock = threading.Lock()
    record = recorder._record_request

    def record_locked(*args: Any, **kwargs: Any) -> None:
        with lock:
            record(*args, **kwargs)

    recorder._record_request = record_locked  # type: ignore[method-assign]
    if kept:
        private = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
        private.start()
        recorder.replay_recording(target_host=f"http://127.0.0.1:{private._port}")
        private.stop()
    server = ThreadedMotoServer(ip_address=options.host, port=options.port, verbose=False)
    server.start()
    print(f"s3server: serving on {options.host}:{options.port}", flush=True)
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    stopped.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
