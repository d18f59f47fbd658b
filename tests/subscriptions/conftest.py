"""A subscriber's callback, served from the test process, and apps registered to subscribe.

The callback is a stdlib ThreadingHTTPServer on a free port of 127.0.0.1 (the
test stack allows private callback addresses): it answers the hub.challenge
handshake and records every update POST, answering each with the next
status of its script (then 200).
"""

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from oauth2_provider.models import Application

from oauth.actions import check_register_client
from tests.conftest import Stack


@dataclass
class Delivery:
    """One update POST the callback received."""

    path: str
    body: bytes
    signature: str | None
    content_type: str | None
    status: int  # what the callback answered

    @property
    def updates(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = json.loads(self.body)
        return found


@dataclass
class CallbackServer:
    """The recordings and behaviour of the test's callback (see the module docstring)."""

    port: int = 0
    echo: Callable[[str], str] = field(default=lambda challenge: challenge)
    statuses: list[int] = field(default_factory=list)  # answers to the next POSTs; 200 when empty
    challenges: list[dict[str, str]] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/callback") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def delivered(self) -> list[Delivery]:
        """The POSTs answered 2xx."""
        with self.lock:
            return [d for d in self.deliveries if 200 <= d.status < 300]

    def all_posts(self) -> list[Delivery]:
        with self.lock:
            return list(self.deliveries)


def _handler(server: CallbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            with server.lock:
                server.challenges.append(query)
            self._answer(200, server.echo(query.get("hub.challenge", "")).encode())

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with server.lock:
                status = server.statuses.pop(0) if server.statuses else 200
                server.deliveries.append(
                    Delivery(
                        path=self.path,
                        body=body,
                        signature=self.headers.get("X-Hub-Signature"),
                        content_type=self.headers.get("Content-Type"),
                        status=status,
                    )
                )
            self._answer(status, b"")

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def callback() -> Iterator[CallbackServer]:
    recorder = CallbackServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recorder))
    recorder.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield recorder
    httpd.shutdown()
    httpd.server_close()


@dataclass(frozen=True)
class App:
    """A registered third-party app, calling /v1/subscriptions through nginx with its credentials."""

    base: str
    http: requests.Session
    application: Application
    secret: str

    @property
    def credentials(self) -> dict[str, str]:
        return {"client_id": self.application.client_id, "client_secret": self.secret}

    def subscribe(self, **fields: Any) -> requests.Response:
        return self.http.post(
            f"{self.base}/v1/subscriptions",
            data={**self.credentials, "aspect": "media", **fields},
            timeout=30,
        )

    def subscribed(self, **fields: Any) -> dict[str, Any]:
        """Subscribe and return the subscription object, failing on anything but 200."""
        response = self.subscribe(**fields)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    def list(self) -> list[dict[str, Any]]:
        response = self.http.get(f"{self.base}/v1/subscriptions", params=self.credentials, timeout=15)
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["data"]
        return found

    def unsubscribe(self, **params: str) -> requests.Response:
        return self.http.delete(
            f"{self.base}/v1/subscriptions", params={**self.credentials, **params}, timeout=15
        )


@pytest.fixture
def register_app(healthy_stack: Stack, http: requests.Session) -> Iterator[Callable[[], App]]:
    """Register third-party apps; deleted (their subscriptions with them) after the test."""
    made: list[Application] = []

    def register() -> App:
        application, secret = check_register_client(
            name=f"Realtime {uuid.uuid4().hex[:8]}", redirect_uri="https://realtime.example.com/cb"
        )
        made.append(application)
        return App(base=healthy_stack.api, http=http, application=application, secret=secret)

    yield register
    for application in made:
        application.delete()


def new_tag() -> str:
    return f"rt{uuid.uuid4().hex[:12]}"
