"""Slowloris-style clients are cut by nginx, and never hold an app server."""

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.conftest import Stack

SLOW_CLIENTS = 8


def trickle_headers(stack: Stack, stop_after: float) -> float:
    """Send a request's headers one byte every 0.2 s; return how long until nginx hung up."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", stack.profile.nginx), timeout=stop_after) as conn:
        conn.settimeout(0.2)
        for byte in b"GET /v1/users/self HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 1000:
            if time.monotonic() - started > stop_after:
                break
            try:
                conn.send(bytes([byte]))
                conn.recv(4096)  # an answer (a 408) or b"" (closed): nginx is done with us
            except TimeoutError:
                continue
            except OSError:
                pass
            break
    return time.monotonic() - started


def test_slow_headers_are_cut_and_other_requests_are_served(healthy_stack: Stack) -> None:
    with ThreadPoolExecutor(max_workers=SLOW_CLIENTS) as pool:
        slow = [pool.submit(trickle_headers, healthy_stack, 8.0) for _ in range(SLOW_CLIENTS)]
        time.sleep(1)
        # The trickling clients hold nginx connections only: the app answers at once.
        for _ in range(10):
            started = time.monotonic()
            assert requests.get(f"{healthy_stack.api}/ping", timeout=2).status_code == 200
            assert time.monotonic() - started < 1
        results = [future.result() for future in slow]
    for elapsed in results:
        assert 4 <= elapsed < 8, f"nginx hung up after {elapsed:.1f}s, not at client_header_timeout (5s)"


def uploads_in_app_logs(stack: Stack) -> int:
    return sum((stack.log / f"app-{n}.log").read_text().count("POST /v1/media/upload ") for n in (1, 2))


def test_a_stalled_body_never_reaches_the_app(healthy_stack: Stack) -> None:
    before = uploads_in_app_logs(healthy_stack)
    with socket.create_connection(("127.0.0.1", healthy_stack.profile.nginx), timeout=5) as conn:
        conn.sendall(
            b"POST /v1/media/upload HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1000
        )
        time.sleep(1)
        # nginx buffers the whole body before it proxies: no app server is waiting on this client.
        assert requests.get(f"{healthy_stack.api}/ping", timeout=2).status_code == 200
    time.sleep(0.5)
    assert uploads_in_app_logs(healthy_stack) == before


def raw_request(stack: Stack, raw: bytes) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", stack.profile.nginx), timeout=5) as conn:
        conn.sendall(raw)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_malformed_requests_get_the_envelope_not_nginx_html(healthy_stack: Stack) -> None:
    for raw in [
        b"GET /ping HTTP/1.1\r\n\r\n",  # no Host
        b"GET /ping HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n",
        b"GET /ping HTTP/9.9\r\nHost: localhost\r\n\r\n",
    ]:
        status, body = raw_request(healthy_stack, raw)
        assert b"<html" not in body.lower(), raw
        assert status == 400, raw
        assert body.startswith(b'{"meta": {"code": '), (raw, body)
