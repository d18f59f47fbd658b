"""The callback client: URL rules, the signature, the handshake, the SSRF policy, time bounds."""

import hashlib
import hmac
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from django.test import override_settings

from subscriptions.callbacks import (
    HANDSHAKE_SECONDS,
    CallbackError,
    CallbackRefused,
    parse_callback_url,
    post_updates,
    sign,
    verify_callback,
)
from tests.subscriptions.conftest import CallbackServer


def test_the_signature_is_the_bare_hex_hmac_sha1_of_the_body_under_the_secret() -> None:
    body = b'[{"subscription_id":"1","object":"tag"}]'
    assert sign(secret="s3cret", body=body) == hmac.new(b"s3cret", body, hashlib.sha1).hexdigest()
    # RFC 2202's second HMAC-SHA1 test case.
    assert (
        sign(secret="Jefe", body=b"what do ya want for nothing?")
        == "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/cb",
        "http://127.0.0.1:8080/hooks/instagram?app=1",
        "http://[::1]:9/cb",
        "https://xn--caf-dma.example/",
        "http://example.com",
    ],
)
def test_callback_urls_that_are_taken(url: str) -> None:
    parse_callback_url(url)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.com/cb", "http or https"),
        ("javascript:alert(1)", "http or https"),
        ("example.com/cb", "http or https"),
        ("http:///cb", "host"),
        ("http://user:pw@example.com/cb", "user name"),
        ("http://example.com/cb#top", "fragment"),
        ("http://example.com:0/cb", "port"),
        ("http://example.com:99999/cb", "valid URL"),
        ("http://exa mple.com/cb", "ASCII"),
        ("http://café.example/cb", "ASCII"),
        ("http://ex_ample..com/cb", "host"),
        ("http://-bad-.com/", "host"),
        ("https://example.com/" + "a" * 1100, "1024"),
    ],
)
def test_callback_urls_that_are_refused_name_the_problem(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_callback_url(url)


def test_the_handshake_sends_the_challenge_and_the_verify_token(callback: CallbackServer) -> None:
    verify_callback(url=callback.url("/cb?app=7"), verify_token="my token")
    (query,) = callback.challenges
    assert query["hub.mode"] == "subscribe"
    assert query["hub.verify_token"] == "my token"
    assert query["app"] == "7"
    assert len(query["hub.challenge"]) == 32


def test_the_handshake_fails_unless_the_body_is_exactly_the_challenge(callback: CallbackServer) -> None:
    for echo in (lambda c: c + "\n", lambda c: c.upper(), lambda c: "", lambda c: c * 40):
        callback.echo = echo
        with pytest.raises(CallbackError, match=r"did not echo hub\.challenge"):
            verify_callback(url=callback.url(), verify_token="")


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for sock in accepted:
        sock.close()
    server.close()


def test_an_unreachable_callback_fails_at_once(closed_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(CallbackError, match="could not be reached"):
        verify_callback(url=f"http://127.0.0.1:{closed_port}/cb", verify_token="")
    assert time.monotonic() - started < 1


def test_a_silent_callback_fails_within_the_handshake_budget(silent_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(CallbackError):
        verify_callback(url=f"http://127.0.0.1:{silent_port}/cb", verify_token="")
    assert time.monotonic() - started < HANDSHAKE_SECONDS + 1


def test_an_unknown_host_fails_fast() -> None:
    started = time.monotonic()
    with pytest.raises(CallbackError, match="resolved"):
        verify_callback(url="http://no-such-host.invalid/cb", verify_token="")
    assert time.monotonic() - started < HANDSHAKE_SECONDS + 1


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.1",
        "169.254.169.254",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "2130706433",
        "0",
    ],
)
def test_private_addresses_are_refused_unless_allowed(host: str) -> None:
    with (
        override_settings(SUBSCRIPTION_CALLBACKS_ALLOW_PRIVATE=False),
        pytest.raises(CallbackRefused, match="private"),
    ):
        verify_callback(url=f"http://{host}:9/cb", verify_token="")


def test_updates_are_posted_signed_and_a_failure_raises(callback: CallbackServer) -> None:
    body = b'[{"subscription_id":"1"}]'
    post_updates(url=callback.url(), secret="k", body=body)
    callback.statuses = [503]
    with pytest.raises(CallbackError, match="503"):
        post_updates(url=callback.url(), secret="k", body=body)
    first, failed = callback.all_posts()
    assert (first.body, first.signature, first.content_type) == (
        body,
        sign(secret="k", body=body),
        "application/json",
    )
    assert failed.status == 503
