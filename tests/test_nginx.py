"""nginx balances over both app servers, survives losing one, and caches photos as the CDN."""

import json
import os
import signal
import socket
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from photos.storage import cdn_url, new_object_prefix, put_object, rendition_key
from tests.conftest import Stack, wait_for


def served_by(http: requests.Session, stack: Stack, n: int) -> Counter[str]:
    counts: Counter[str] = Counter()
    for _ in range(n):
        response = http.get(f"{stack.api}/ping", timeout=5)
        assert response.status_code == 200, response.text
        counts[response.headers["X-Served-By"]] += 1
    return counts


def test_nginx_balances_over_both_app_servers(healthy_stack: Stack, http: requests.Session) -> None:
    # An app server restarted by an earlier test rejoins after nginx's fail_timeout.
    counts = wait_for(
        lambda: served_by(http, healthy_stack, 20) if len(served_by(http, healthy_stack, 4)) == 2 else None,
        timeout=20,
        interval=0.5,
    )
    assert set(counts) == {"app-1", "app-2"}
    assert min(counts.values()) >= 5


@pytest.mark.disruptive
def test_nginx_keeps_serving_when_an_app_server_stops(healthy_stack: Stack, http: requests.Session) -> None:
    with healthy_stack.stopped("app-1"):
        counts = served_by(http, healthy_stack, 20)
    assert counts == Counter({"app-2": 20})


@pytest.mark.disruptive
def test_no_app_server_is_an_enveloped_503(healthy_stack: Stack, http: requests.Session) -> None:
    with healthy_stack.stopped("app-1", "app-2"):
        response = http.get(f"{healthy_stack.api}/v1/users/self", timeout=10)
        assert response.status_code == 503
        assert response.json()["meta"] == {
            "code": 503,
            "error_type": "APIUnavailableError",
            "error_message": "No app server is available; retry shortly.",
        }

    def both_serving() -> bool:  # nginx marked both down: wait until each takes requests again
        try:  # a freshly started app server's first answers can be slow on a loaded machine
            answers = [http.get(f"{healthy_stack.api}/ping", timeout=5) for _ in range(10)]
        except requests.Timeout:
            return False
        return {r.headers.get("X-Served-By") for r in answers if r.status_code == 200} == {"app-1", "app-2"}

    wait_for(both_serving, timeout=60, interval=0.5)


def raw_get(stack: Stack, target: str, headers: str = "") -> tuple[int, dict[str, Any]]:
    """Send one GET exactly as written (requests would refuse some of these) and read the envelope."""
    with socket.create_connection(("127.0.0.1", stack.profile.nginx), timeout=10) as sock:
        head = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n"
        sock.sendall(head.encode())
        reply = b"".join(iter(lambda: sock.recv(65536), b""))
    status_line, _, rest = reply.partition(b"\r\n")
    headers_part, _, body = rest.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in headers_part.lower():
        size, _, chunk = body.partition(b"\r\n")
        body = chunk[: int(size, 16)]
    return int(status_line.split()[1]), json.loads(body)


def request_line_of(length: int) -> str:
    """A user-search target whose request line ("GET <target> HTTP/1.1") is `length` characters long."""
    prefix = "/v1/users/search?q="
    return prefix + "a" * (length - len("GET  HTTP/1.1") - len(prefix))


def test_the_longest_request_line_nginx_accepts_reaches_the_app(healthy_stack: Stack) -> None:
    # 8190 characters + CRLF fill nginx's 8 KB buffer; gunicorn must take it too
    # (its own refusal would be an HTML page).
    status, body = raw_get(healthy_stack, request_line_of(8190))
    assert status == 400
    assert body["meta"]["error_type"] == "OAuthParameterException"  # the view answered


def test_a_longer_request_line_is_an_enveloped_414(healthy_stack: Stack) -> None:
    status, body = raw_get(healthy_stack, request_line_of(8191))
    assert status == 414
    assert body["meta"]["error_type"] == "APIInvalidParametersError"
    assert "URI is too long" in body["meta"]["error_message"]


def test_oversized_headers_are_an_enveloped_400(healthy_stack: Stack) -> None:
    status, body = raw_get(healthy_stack, "/ping", f"X-Big: {'a' * 9000}\r\n")
    assert (status, body["meta"]["error_type"]) == (400, "APIInvalidParametersError")
    assert "header is too large" in body["meta"]["error_message"]


def test_what_nginx_forwards_gunicorn_accepts(healthy_stack: Stack) -> None:
    # An X-Forwarded-For nginx takes (and appends to), and more header lines than
    # gunicorn's default limit of 100.
    many = "".join(f"X-Trace-{i}: {i}\r\n" for i in range(500))
    forwarded = f"X-Forwarded-For: {'1' * 8150}\r\n"
    for extra in (many, forwarded):
        status, body = raw_get(healthy_stack, "/ping", extra)
        assert (status, body["meta"]["code"]) == (200, 200)


@pytest.fixture
def app1_killed(healthy_stack: Stack) -> Iterator[None]:
    """Kill app-1's whole process group at once, as a crashed host would lose it."""
    pid = int(healthy_stack.ctl("pid", "app-1"))
    os.killpg(pid, signal.SIGKILL)
    try:
        yield
    finally:
        healthy_stack.start("app-1")


@pytest.mark.disruptive
def test_nginx_fails_over_when_an_app_server_is_killed(
    healthy_stack: Stack, http: requests.Session, app1_killed: None
) -> None:
    counts = served_by(http, healthy_stack, 20)  # each one asserted 200
    assert sum(counts.values()) == 20


def test_request_id_reaches_the_app_log(healthy_stack: Stack, http: requests.Session) -> None:
    request_id = f"t-{uuid.uuid4().hex[:20]}"
    response = http.get(f"{healthy_stack.api}/ping", headers={"X-Request-ID": request_id}, timeout=5)
    assert response.headers["X-Request-ID"] == request_id
    server = response.headers["X-Served-By"]
    log = healthy_stack.log / f"{server}.log"
    # supervisord copies the app's output into the file a moment later.
    line = wait_for(
        lambda: next((ln for ln in log.read_text().splitlines() if f"[{request_id}]" in ln), None)
    )
    assert "GET /ping 200" in line
    assert line.rstrip().endswith("ms")


def test_photo_is_served_through_the_cdn_with_a_miss_then_a_hit(
    healthy_stack: Stack, http: requests.Session
) -> None:
    body = os.urandom(300 * 1024)  # a photo-sized object
    key = rendition_key(new_object_prefix(), "standard_resolution")
    put_object(key=key, data=body, content_type="image/jpeg")
    url = cdn_url(key)
    assert url.startswith(f"http://localhost:{healthy_stack.profile.cdn}/")
    first = http.get(url, timeout=5)
    second = http.get(url, timeout=5)
    assert (first.status_code, first.headers["X-Cache"]) == (200, "MISS")
    assert (second.status_code, second.headers["X-Cache"]) == (200, "HIT")
    assert first.content == body
    assert second.content == body
    assert "immutable" in second.headers["Cache-Control"]


def test_cdn_refuses_writes(healthy_stack: Stack, http: requests.Session) -> None:
    key = rendition_key(new_object_prefix(), "thumbnail")
    response = http.put(f"{healthy_stack.cdn}/{key}", data=b"x", timeout=5)
    assert response.status_code == 403
