"""LOG_FORMAT=json: an app server on the test stack writes one JSON object per line."""

import dataclasses
import json
import socket
import subprocess
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from deploy.localstack.configs import environment
from tests.conftest import Stack, wait_for

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclasses.dataclass
class JsonAppServer:
    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def lines(self) -> list[dict[str, Any]]:
        """Every line of the server's log, parsed (a line that is not JSON fails the test)."""
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def json_app_server(healthy_stack: Stack, tmp_path: Path) -> Iterator[JsonAppServer]:
    """A third gunicorn on the stack's databases and caches, as app-1 runs but with LOG_FORMAT=json."""
    port = free_port()
    env = {
        **environment(healthy_stack.profile),
        "LOG_FORMAT": "json",
        "APP_SERVER_NAME": "app-json",
    }
    log = tmp_path / "app-json.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/gunicorn"),
                "-c", "deploy/gunicorn/gunicorn.conf.py",
                "--bind", f"127.0.0.1:{port}",
                "--workers", "1",
                "instagram.wsgi",
            ],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = JsonAppServer(url=f"http://127.0.0.1:{port}", log=log, process=process)

    def serving() -> bool:
        try:
            return requests.get(f"{server.url}/ping", timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        wait_for(serving, timeout=60, interval=0.2)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=40)


def test_json_log_lines_carry_the_request_fields(signup, json_app_server: JsonAppServer) -> None:  # type: ignore[no-untyped-def]
    kevin = signup("kevin")
    direct = dataclasses.replace(kevin, base=json_app_server.url)
    request_id = f"json-log-{uuid.uuid4().hex}"
    response = direct.http.get(
        f"{direct.base}/v1/users/{kevin.id}",
        params={"access_token": kevin.token},
        headers={"X-Request-ID": request_id},
        timeout=15,
    )
    assert response.status_code == 200, response.text
    missing = direct.http.get(
        f"{direct.base}/v1/nothing/here", headers={"X-Request-ID": f"{request_id}-404"}, timeout=15
    )
    assert missing.status_code == 404
    json_app_server.process.terminate()  # flushes and closes the log: every line is complete
    json_app_server.process.wait(timeout=40)

    lines = json_app_server.lines()
    (line,) = [entry for entry in lines if entry["request_id"] == request_id]
    assert line["logger"] == "instagram.request"
    assert line["level"] == "INFO"
    assert line["route"] == "/v1/users/<str:user_ref>"  # the pattern, not /v1/users/<id>
    assert line["method"] == "GET"
    assert line["status"] == 200
    assert line["user_id"] == int(kevin.id)
    assert isinstance(line["duration_ms"], float)
    assert line["duration_ms"] >= 0
    assert datetime.fromisoformat(line["timestamp"]).utcoffset() is not None
    assert line["message"].startswith(f"GET /v1/users/{kevin.id} 200 ")

    (unrouted,) = [entry for entry in lines if entry["request_id"] == f"{request_id}-404"]
    assert unrouted["status"] == 404
    assert "route" not in unrouted
    assert "user_id" not in unrouted
    # gunicorn's own lines are JSON too, and no line carries the token.
    assert any(entry["logger"] == "gunicorn.error" for entry in lines)
    assert kevin.token not in json_app_server.log.read_text()
