"""Talking to a subscriber's callback URL: the hub.challenge handshake and the signed update POSTs.

Every call is bounded in time (a few seconds, DNS included) and size, so a
slow or silent callback costs an API request or a worker a few seconds, never
a hang. The host is resolved once, every address it resolves to is checked
against SUBSCRIPTION_CALLBACKS_ALLOW_PRIVATE, and the connection goes to the
address that was checked (TLS still verifies the certificate against the
host name): a DNS answer that changes between the check and the connect
cannot steer a request into our own network. Redirects are not followed.
"""

import hashlib
import hmac
import ipaddress
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import urllib3
from django.conf import settings

from subscriptions.models import MAX_CALLBACK_URL

HANDSHAKE_SECONDS = 4.0  # the whole hub.challenge request, DNS included
DELIVERY_SECONDS = 10.0  # one POST of updates, DNS included
CONNECT_SECONDS = 2.0
MAX_CHALLENGE_REPLY = 1024  # bytes of the handshake's answer read; a challenge is 32 characters
MAX_VERIFY_TOKEN = 200
USER_AGENT = "Instagram-Subscriptions/1 (+real-time API v1)"

_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


class CallbackError(Exception):
    """The callback could not be reached, or answered what it must not; the message is for the client."""


class CallbackRefused(CallbackError):
    """The callback's address is not one the API may call (SSRF policy); retrying cannot help."""


@dataclass(frozen=True)
class Callback:
    """A parsed callback URL: where to connect, and the request target and Host header to send."""

    url: str
    scheme: str
    host: str  # a DNS name, or an IP address without brackets
    port: int
    target: str  # path and query

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_callback_url(url: str) -> Callback:
    """Return `url` parsed; raise ValueError naming the problem unless it is an absolute http(s) URL.

    ASCII only (IDNA hosts in their xn-- form, other characters %-encoded), no
    user name or password, no fragment, at most MAX_CALLBACK_URL characters.
    """
    if len(url) > MAX_CALLBACK_URL:
        raise ValueError(f"callback_url must be at most {MAX_CALLBACK_URL} characters.")
    if not url.isascii() or any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ValueError("callback_url must be ASCII without spaces (%-encode the rest).")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("callback_url is not a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("callback_url must be an http or https URL.")
    host = parts.hostname or ""
    if not host:
        raise ValueError("callback_url must name a host.")
    if parts.username is not None or parts.password is not None:
        raise ValueError("callback_url must not carry a user name or password.")
    if parts.fragment or url.endswith("#"):
        raise ValueError("callback_url must not have a fragment.")
    if not _valid_host(host):
        raise ValueError("callback_url's host is not a valid host name or IP address.")
    if port == 0:
        raise ValueError("callback_url's port must be from 1 to 65535.")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default = 443 if parts.scheme == "https" else 80
    return Callback(url=url, scheme=parts.scheme, host=host, port=port or default, target=target)


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.removesuffix(".").split(".")
        return len(host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)
    return True


def sign(*, secret: str, body: bytes) -> str:
    """Return the X-Hub-Signature of `body`: the hex HMAC-SHA1 under the client secret, as v1 sent it."""
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def verify_callback(*, url: str, verify_token: str) -> None:
    """Run v1's handshake: GET the callback with a hub.challenge it must echo as its whole body.

    Raise CallbackError naming what went wrong (unreachable, a non-200, a
    different body), CallbackRefused for an address the policy refuses.
    """
    callback = parse_callback_url(url)
    challenge = secrets.token_hex(16)
    query = urlencode({"hub.mode": "subscribe", "hub.challenge": challenge, "hub.verify_token": verify_token})
    target = f"{callback.target}{'&' if '?' in callback.target else '?'}{query}"
    status, body = _call(
        callback, method="GET", target=target, body=None, headers={}, budget=HANDSHAKE_SECONDS
    )
    if status != 200:
        raise CallbackError(
            f"The callback answered HTTP {status} to the hub.challenge request; it must answer 200 "
            "with the challenge as its body."
        )
    if body != challenge.encode():
        raise CallbackError(
            "The callback did not echo hub.challenge: its answer's body must be exactly the challenge."
        )


def post_updates(*, url: str, secret: str, body: bytes) -> None:
    """POST a JSON array of updates, signed; raise CallbackError unless the callback answers 2xx."""
    callback = parse_callback_url(url)
    headers = {"Content-Type": "application/json", "X-Hub-Signature": sign(secret=secret, body=body)}
    status, _ = _call(
        callback, method="POST", target=callback.target, body=body, headers=headers, budget=DELIVERY_SECONDS
    )
    if not 200 <= status < 300:
        raise CallbackError(f"The callback answered HTTP {status}.")


def _call(
    callback: Callback,
    *,
    method: str,
    target: str,
    body: bytes | None,
    headers: dict[str, str],
    budget: float,
) -> tuple[int, bytes]:
    """Send one request to the checked address of `callback`; return the status and up to 1 KB of the body."""
    deadline = time.monotonic() + budget
    address = _checked_address(callback, deadline=deadline)
    timeout = urllib3.Timeout(
        connect=CONNECT_SECONDS, read=max(0.1, min(budget / 2, deadline - time.monotonic()))
    )
    pool: urllib3.HTTPConnectionPool
    if callback.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            address,
            callback.port,
            timeout=timeout,
            retries=False,
            maxsize=1,
            cert_reqs="CERT_REQUIRED",
            server_hostname=callback.host,
            assert_hostname=callback.host,
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, callback.port, timeout=timeout, retries=False, maxsize=1)
    sent = {"Host": callback.host_header, "User-Agent": USER_AGENT, "Connection": "close", **headers}
    try:
        with pool:
            response = pool.urlopen(
                method, target, body=body, headers=sent, redirect=False, preload_content=False
            )
            try:
                return response.status, _read_some(response, deadline=deadline)
            finally:
                response.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        raise CallbackError(f"The callback could not be reached: {_reason(exc)}.") from None


def _read_some(response: urllib3.BaseHTTPResponse, *, deadline: float) -> bytes:
    """Read at most MAX_CHALLENGE_REPLY + 1 bytes, giving up at `deadline` (a callback dripping bytes)."""
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_CHALLENGE_REPLY:
        if time.monotonic() > deadline:
            raise CallbackError("The callback took too long to answer.")
        chunk = response.read1(MAX_CHALLENGE_REPLY + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _reason(exc: urllib3.exceptions.HTTPError) -> str:
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return "it did not answer in time"
    if isinstance(exc, urllib3.exceptions.SSLError):
        return "its TLS certificate could not be verified"
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return "the connection was refused or failed"
    return type(exc).__name__


def _checked_address(callback: Callback, *, deadline: float) -> str:
    """Resolve the callback's host within the deadline; return an address the policy allows."""
    addresses = _resolve(callback.host, callback.port, timeout=max(0.1, deadline - time.monotonic()))
    if not settings.SUBSCRIPTION_CALLBACKS_ALLOW_PRIVATE:
        for address in addresses:
            if not _public(address):
                raise CallbackRefused(
                    "The callback_url resolves to a private, loopback or reserved address, "
                    "which this API does not call."
                )
    return addresses[0]


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    return ip.is_global and not ip.is_multicast


def _resolve(host: str, port: int, *, timeout: float) -> list[str]:
    """Return the addresses of `host`, asked in a thread: a stuck resolver costs `timeout` at most."""
    found: list[str] = []
    failure: list[str] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            found.extend(dict.fromkeys(str(info[4][0]).partition("%")[0] for info in infos))
        except (OSError, UnicodeError) as exc:
            failure.append(str(exc))

    thread = threading.Thread(target=lookup, name="callback-dns", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise CallbackError(f"The callback's host {host} could not be resolved in time.")
    if not found:
        raise CallbackError(f"The callback's host {host} could not be resolved.")
    return found
