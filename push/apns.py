"""Sending to APNS over HTTP/2 with a JWT provider token, through aioapns.

Workers are synchronous processes, and aioapns is asyncio: each worker
process runs one event loop in a daemon thread for as long as it lives,
and a job hands it its pushes and waits for the answers. The loop keeps
aioapns's connection pool, so a worker reuses its HTTP/2 connection (and
its TLS session) from job to job, as Apple asks, and Apple's answers and
GOAWAYs are read as they come, not only while a job runs.

aioapns names Apple's host in class attributes of its protocol classes,
and its key pool signs a new provider token for every connection it opens.
`_Pool` is a small subclass of its base pool that points a protocol
subclass at settings.APNS_HOST and APNS_PORT, trusts settings.APNS_CA_FILE
(the system's store when empty) and shares one `ProviderToken` between its
connections: Apple refuses tokens older than an hour and throttles a team
that signs new ones more often than every 20 minutes, so one is reused for
50 minutes. The rest (HTTP/2 streams, the pool, Apple's answers) is aioapns.
"""

import asyncio
import logging
import ssl
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import jwt
from aioapns.common import NotificationRequest, PushType
from aioapns.connection import (
    APNsBaseClientProtocol,
    APNsBaseConnectionPool,
    APNsTLSClientProtocol,
    AuthorizationHeaderProvider,
)
from aioapns.exceptions import ConnectionError as APNsConnectionError
from aioapns.exceptions import MaxAttemptsExceeded
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

PROVIDER_TOKEN_TTL = 50 * 60  # seconds; Apple: renew at most every 20 minutes, at least every 60
EXPIRATION = 24 * 3600  # seconds Apple keeps trying a phone that is off; a day-old like is news no more
PRIORITY_NOW = 10  # deliver at once (alerts); 5 would let the phone save power
SEND_TIMEOUT = 10.0  # seconds for one push, connection included
CONNECTION_ATTEMPTS = 2  # per push; after that the job fails and is retried with backoff
IDLE_CLOSE = 300  # seconds a worker keeps an idle connection open
MAX_CONNECTIONS = 4

# Apple's answers that retire a device token: the app was deleted, or the
# token was never one of this app's (another app's, or another environment's).
GONE_REASONS = frozenset({"Unregistered", "ExpiredToken", "BadDeviceToken", "DeviceTokenNotForTopic"})
PROVIDER_TOKEN_REASONS = frozenset({"ExpiredProviderToken", "InvalidProviderToken", "MissingProviderToken"})

T = TypeVar("T")


@dataclass(frozen=True)
class Push:
    """One notification to one device."""

    token: str
    apns_id: str  # a UUID; the same for every attempt of the same push, so logs match up
    payload: dict[str, Any]


@dataclass(frozen=True)
class Result:
    """Apple's answer to one push: 200, an error status and reason, or 0 when none came."""

    status: int
    reason: str = ""
    timestamp: int | None = None  # for 410: since when (ms) the token is invalid

    @property
    def delivered(self) -> bool:
        return self.status == 200

    @property
    def device_gone(self) -> bool:
        """Say whether Apple says the token will never work again: the device is to be deactivated."""
        return self.status == 410 or (self.status == 400 and self.reason in GONE_REASONS)

    @property
    def transient(self) -> bool:
        """Say whether a later try may succeed: no answer, throttled, Apple's failure, a stale token."""
        return (
            self.status == 0
            or self.status == 429
            or self.status >= 500
            or (self.status == 403 and self.reason in PROVIDER_TOKEN_REASONS)
        )


class ProviderToken(AuthorizationHeaderProvider):
    """The `authorization` header: an ES256 JWT (kid, iss, iat), signed once per PROVIDER_TOKEN_TTL."""

    def __init__(self, *, key: str, key_id: str, team_id: str, ttl: int = PROVIDER_TOKEN_TTL) -> None:
        self.key = key
        self.key_id = key_id
        self.team_id = team_id
        self.ttl = ttl
        self._header = ""
        self._issued_at = 0

    def get_header(self) -> str:
        now = int(time.time())
        if not self._header or now - self._issued_at >= self.ttl:
            token = jwt.encode(
                {"iss": self.team_id, "iat": now}, self.key, algorithm="ES256", headers={"kid": self.key_id}
            )
            self._header, self._issued_at = f"bearer {token}", now
        return self._header


def _protocol_class(host: str, port: int) -> type[APNsTLSClientProtocol]:
    class Protocol(APNsTLSClientProtocol):
        APNS_SERVER = host
        APNS_PORT = port
        INACTIVITY_TIME = IDLE_CLOSE

    return Protocol


class _Pool(APNsBaseConnectionPool):
    """aioapns's connection pool, to settings' host, with one provider token for all its connections."""

    def __init__(
        self, *, host: str, port: int, topic: str, ssl_context: ssl.SSLContext, auth: ProviderToken
    ) -> None:
        super().__init__(
            topic=topic, max_connections=MAX_CONNECTIONS, max_connection_attempts=CONNECTION_ATTEMPTS
        )
        self.topic = topic
        self.protocol_class = _protocol_class(host, port)
        self.ssl_context = ssl_context
        self.auth = auth

    async def create_connection(self) -> APNsBaseClientProtocol:
        factory = partial(
            self.protocol_class,
            self.topic,
            self.loop,
            # aioapns annotates this callback as returning NoReturn; its own pools pass this same method.
            self.discard_connection,  # type: ignore[arg-type]
            self.auth,
        )
        _, protocol = await self.loop.create_connection(
            factory,
            host=self.protocol_class.APNS_SERVER,
            port=self.protocol_class.APNS_PORT,
            ssl=self.ssl_context,
        )
        return protocol


class Client:
    """A worker process's way to APNS: the event loop thread, the connection pool, the provider token."""

    def __init__(
        self, *, host: str, port: int, topic: str, ca_file: str, key_file: str, key_id: str, team_id: str
    ) -> None:
        if not (key_file and key_id and team_id and topic):
            raise ImproperlyConfigured("APNS needs APNS_KEY_FILE, APNS_KEY_ID, APNS_TEAM_ID and APNS_TOPIC")
        auth = ProviderToken(key=Path(key_file).read_text(encoding="ascii"), key_id=key_id, team_id=team_id)
        context = ssl.create_default_context(cafile=ca_file or None)
        context.set_alpn_protocols(["h2"])
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="apns", daemon=True)
        self._thread.start()
        self._pool = self._run(self._make_pool(host, port, topic, context, auth), timeout=5)

    @staticmethod
    async def _make_pool(
        host: str, port: int, topic: str, context: ssl.SSLContext, auth: ProviderToken
    ) -> _Pool:
        # In the loop: the pool binds itself to the running loop.
        return _Pool(host=host, port=port, topic=topic, ssl_context=context, auth=auth)

    def _run(self, coroutine: Coroutine[Any, Any, T], *, timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def send(self, pushes: list[Push]) -> list[Result]:
        """Send `pushes` concurrently over the pool's connections; return Apple's answers in order."""
        if not pushes:
            return []
        return self._run(self._send_all(pushes), timeout=SEND_TIMEOUT + 5)

    async def _send_all(self, pushes: list[Push]) -> list[Result]:
        return list(await asyncio.gather(*(self._send_one(push) for push in pushes)))

    async def _send_one(self, push: Push) -> Result:
        request = NotificationRequest(
            device_token=push.token,
            message=push.payload,
            notification_id=push.apns_id,
            time_to_live=EXPIRATION,
            priority=PRIORITY_NOW,
            push_type=PushType.ALERT,
        )
        try:
            answer = await asyncio.wait_for(self._pool.send_notification(request), SEND_TIMEOUT)
        except (TimeoutError, MaxAttemptsExceeded, APNsConnectionError, OSError) as exc:
            return Result(status=0, reason=f"{type(exc).__name__}: {exc}".rstrip(": "))
        return Result(status=int(answer.status), reason=answer.description or "", timestamp=answer.timestamp)

    def close(self) -> None:
        """Close the connections and stop the loop thread."""
        self._loop.call_soon_threadsafe(self._pool.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


_lock = threading.Lock()
_client: Client | None = None


def client() -> Client:
    """Return this process's APNS client, made from settings on first use."""
    global _client
    with _lock:
        if _client is None:
            _client = Client(
                host=settings.APNS_HOST,
                port=settings.APNS_PORT,
                topic=settings.APNS_TOPIC,
                ca_file=settings.APNS_CA_FILE,
                key_file=settings.APNS_KEY_FILE,
                key_id=settings.APNS_KEY_ID,
                team_id=settings.APNS_TEAM_ID,
            )
        return _client


def reset_client() -> None:
    """Close this process's client, so the next push reads the key and the CA afresh.

    After a push found no server or had its provider token refused: the
    key or the CA may have been replaced (a new key from Apple, a fresh
    sandbox) since the client read them.
    """
    global _client
    with _lock:
        if _client is not None:
            _client.close()
        _client = None
