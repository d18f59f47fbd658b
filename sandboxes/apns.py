"""The APNS sandbox: an HTTP/2 server over TLS that answers like Apple's push service.

On its first start it writes into its directory, each file atomically (a
temporary file renamed into place, so a worker reading them never sees half
a file):

- `ca.pem`, a local certificate authority (settings.APNS_CA_FILE trusts it),
  and `ca-key.pem`, its key, kept to sign the next server certificate;
- `server.pem` and `server-key.pem`, the server's certificate for 127.0.0.1
  and localhost, signed by that CA;
- `apns-auth-key.p8`, the ES256 signing key, as Apple issues it
  (settings.APNS_KEY_FILE): the sandbox verifies provider tokens with its
  public half.

Existing files are kept, so a restart keeps trusting what workers hold.

Each request is checked as Apple checks it, in this order, and refused with
Apple's status and `{"reason": ...}`:

- a method other than POST: 405 MethodNotAllowed;
- a path other than `/3/device/<token>`: 404 BadPath; a token that is not
  64 hexadecimal digits: 400 BadDeviceToken;
- no `authorization: bearer <JWT>`: 403 MissingProviderToken; a JWT that
  is not ES256, has no `kid`, `iss` or `iat`, or does not verify with the
  key: 403 InvalidProviderToken; one issued over an hour ago: 403
  ExpiredProviderToken;
- no `apns-topic`: 400 MissingTopic; an unknown `apns-push-type`: 400
  InvalidPushType; an `apns-priority` other than 1, 5 or 10: 400
  BadPriority; a non-numeric `apns-expiration`: 400 BadExpirationDate; an
  `apns-id` that is not a UUID: 400 BadMessageId;
- an empty body: 400 PayloadEmpty; over 4096 bytes: 413 PayloadTooLarge;
  not a JSON object: 400 BadPayload (the sandbox's own reason).

A request that passes is answered by its device token's first digits, so
that tests (and a developer trying failures by hand) choose the outcome:

- `dead...`: 410 Unregistered, with the `timestamp` (milliseconds) since
  which the token is invalid, as for an app deleted from the phone;
- `bad0...`: 400 BadDeviceToken;
- `5e3...`: 503 ServiceUnavailable; other `5e...`: 500 InternalServerError
  (every time: a job pushing to it is retried until it is parked);
- anything else: 200.

Every answer carries the request's `apns-id` (a new one when it sent none),
as Apple's does. Every request is recorded as one JSON line in
`<directory>/apns.jsonl` (sandboxes.records): path, token, headers (the
provider token included, so a test can verify it too: it is signed with the
sandbox's own key and expires within the hour), payload, status and reason.
"""

import asyncio
import datetime
import ipaddress
import json
import logging
import os
import re
import ssl
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import ConnectionTerminated, DataReceived, RequestReceived, StreamEnded, StreamReset

from sandboxes.records import record

logger = logging.getLogger(__name__)

CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
SERVER_CERT_FILE = "server.pem"
SERVER_KEY_FILE = "server-key.pem"
AUTH_KEY_FILE = "apns-auth-key.p8"

MAX_PAYLOAD = 4096  # bytes, Apple's limit for alert notifications
PROVIDER_TOKEN_MAX_AGE = 3600  # seconds: Apple refuses older provider tokens
MAX_STREAMS = 1000  # what Apple announces once a connection is established
DEVICE_PATH = re.compile(r"/3/device/([^/]*)")
DEVICE_TOKEN = re.compile(r"[0-9a-fA-F]{64}")
PUSH_TYPES = {
    "alert",
    "background",
    "location",
    "voip",
    "complication",
    "fileprovider",
    "mdm",
    "liveactivity",
}
PRIORITIES = {"1", "5", "10"}
CERT_DAYS = 3650


# ------------------------------------------------------------ credentials


def _write_atomically(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write `data` to `path` through a temporary file in the same folder, renamed into place."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o600 if private else 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _private_pem(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} is not an elliptic-curve key")
    return key


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Instagram sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _make_ca(directory: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Instagram sandbox CA"))
        .issuer_name(_name("Instagram sandbox CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    # The key first: a CA certificate on disk always has its key beside it.
    _write_atomically(directory / CA_KEY_FILE, _private_pem(key), private=True)
    _write_atomically(directory / CA_FILE, cert.public_bytes(serialization.Encoding.PEM))


def _make_server_cert(directory: Path) -> None:
    ca_key = _load_private_key(directory / CA_KEY_FILE)
    ca_cert = x509.load_pem_x509_certificate((directory / CA_FILE).read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.DNSName("sandbox"),  # the service's name in docker-compose.yml
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_atomically(directory / SERVER_KEY_FILE, _private_pem(key), private=True)
    _write_atomically(directory / SERVER_CERT_FILE, cert.public_bytes(serialization.Encoding.PEM))


def ensure_credentials(directory: Path) -> None:
    """Create whichever of the CA, the server certificate and the signing key `directory` lacks."""
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / AUTH_KEY_FILE).exists():
        _write_atomically(
            directory / AUTH_KEY_FILE, _private_pem(ec.generate_private_key(ec.SECP256R1())), private=True
        )
    new_ca = not (directory / CA_FILE).exists() or not (directory / CA_KEY_FILE).exists()
    if new_ca:
        _make_ca(directory)
    if new_ca or not (directory / SERVER_CERT_FILE).exists() or not (directory / SERVER_KEY_FILE).exists():
        _make_server_cert(directory)


def _tls_context(directory: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(directory / SERVER_CERT_FILE, directory / SERVER_KEY_FILE)
    context.set_alpn_protocols(["h2"])
    return context


# ------------------------------------------------------------ one request


class Refused(Exception):
    """A request Apple would refuse: its status and reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _check_provider_token(authorization: str | None, public_key: ec.EllipticCurvePublicKey) -> None:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Refused(403, "MissingProviderToken")
    token = authorization[len("bearer ") :].strip()
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(
            token,
            public_key,
            algorithms=["ES256"],
            options={"require": ["iss", "iat"], "verify_iat": True},
        )
    except jwt.PyJWTError:
        raise Refused(403, "InvalidProviderToken") from None
    if not header.get("kid") or not isinstance(claims.get("iat"), int):
        raise Refused(403, "InvalidProviderToken")
    if claims["iat"] < time.time() - PROVIDER_TOKEN_MAX_AGE:
        raise Refused(403, "ExpiredProviderToken")


def _check(
    headers: dict[str, str], body: bytes, public_key: ec.EllipticCurvePublicKey
) -> tuple[str, dict[str, Any]]:
    """Return the device token and payload of a request Apple would accept; raise Refused otherwise."""
    if headers.get(":method") != "POST":
        raise Refused(405, "MethodNotAllowed")
    path = DEVICE_PATH.fullmatch(headers.get(":path", ""))
    if path is None:
        raise Refused(404, "BadPath")
    if not path.group(1):
        raise Refused(400, "MissingDeviceToken")
    if not DEVICE_TOKEN.fullmatch(path.group(1)):
        raise Refused(400, "BadDeviceToken")
    _check_provider_token(headers.get("authorization"), public_key)
    if not headers.get("apns-topic"):
        raise Refused(400, "MissingTopic")
    if "apns-push-type" in headers and headers["apns-push-type"] not in PUSH_TYPES:
        raise Refused(400, "InvalidPushType")
    if "apns-priority" in headers and headers["apns-priority"] not in PRIORITIES:
        raise Refused(400, "BadPriority")
    if "apns-expiration" in headers and not headers["apns-expiration"].isdigit():
        raise Refused(400, "BadExpirationDate")
    if "apns-id" in headers:
        try:
            uuid.UUID(headers["apns-id"])
        except ValueError:
            raise Refused(400, "BadMessageId") from None
    if not body:
        raise Refused(400, "PayloadEmpty")
    if len(body) > MAX_PAYLOAD:
        raise Refused(413, "PayloadTooLarge")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "BadPayload") from None
    if not isinstance(payload, dict):
        raise Refused(400, "BadPayload")
    return path.group(1), payload


def _outcome(token: str) -> tuple[int, str | None]:
    """Return the status and reason the sandbox answers for a valid request to `token` (see above)."""
    token = token.lower()
    if token.startswith("dead"):
        return 410, "Unregistered"
    if token.startswith("bad0"):
        return 400, "BadDeviceToken"
    if token.startswith("5e3"):
        return 503, "ServiceUnavailable"
    if token.startswith("5e"):
        return 500, "InternalServerError"
    return 200, None


def answer(
    headers: dict[str, str], body: bytes, public_key: ec.EllipticCurvePublicKey
) -> tuple[int, dict[str, Any] | None, dict[str, Any]]:
    """Return the status and JSON body to answer a request with, and its record."""
    token: str | None = None
    payload: Any = None
    try:
        token, payload = _check(headers, body, public_key)
        status, reason = _outcome(token)
    except Refused as refused:
        status, reason = refused.status, refused.reason
    if payload is None and body:
        payload = body[:MAX_PAYLOAD].decode("utf-8", errors="replace")
    response: dict[str, Any] | None = None
    if reason is not None:
        response = {"reason": reason}
        if status == 410:
            response["timestamp"] = int(time.time() * 1000)
    entry = {
        "time": time.time(),
        "path": headers.get(":path", ""),
        "token": token,
        "headers": {name: value for name, value in headers.items() if not name.startswith(":")},
        "payload": payload,
        "bytes": len(body),
        "status": status,
        "reason": reason,
    }
    return status, response, entry


# ------------------------------------------------------------ the server


class _Stream:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers
        self.body = bytearray()


async def _serve_connection(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    directory: Path,
    public_key: ec.EllipticCurvePublicKey,
) -> None:
    ssl_object = writer.get_extra_info("ssl_object")
    if ssl_object is None or ssl_object.selected_alpn_protocol() != "h2":
        logger.warning("closing a connection that did not negotiate h2 over TLS")
        writer.close()
        return
    connection = H2Connection(H2Configuration(client_side=False, header_encoding="utf-8"))
    connection.initiate_connection()
    connection.update_settings({0x3: MAX_STREAMS})  # SETTINGS_MAX_CONCURRENT_STREAMS
    writer.write(connection.data_to_send())
    streams: dict[int, _Stream] = {}
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                return
            for event in connection.receive_data(data):
                if isinstance(event, RequestReceived):
                    headers = {str(k): str(v) for k, v in event.headers or []}
                    streams[event.stream_id] = _Stream(headers)
                elif isinstance(event, DataReceived):
                    stream = streams.get(event.stream_id)
                    if stream is not None and len(stream.body) <= MAX_PAYLOAD:
                        stream.body += event.data or b""
                    connection.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, StreamEnded):
                    stream = streams.pop(event.stream_id, None)
                    if stream is not None:
                        _respond(connection, event.stream_id, stream, directory, public_key)
                elif isinstance(event, StreamReset):
                    streams.pop(event.stream_id, None)
                elif isinstance(event, ConnectionTerminated):
                    writer.write(connection.data_to_send())
                    return
            writer.write(connection.data_to_send())
            await writer.drain()
    except (ConnectionError, ssl.SSLError) as exc:
        logger.info("connection ended: %s", exc)
    except Exception:
        logger.exception("APNS sandbox connection failed")
    finally:
        writer.close()


def _respond(
    connection: H2Connection,
    stream_id: int,
    stream: _Stream,
    directory: Path,
    public_key: ec.EllipticCurvePublicKey,
) -> None:
    status, response, entry = answer(stream.headers, bytes(stream.body), public_key)
    apns_id = stream.headers.get("apns-id") or str(uuid.uuid4())
    entry["apns_id"] = apns_id
    record(directory, "apns", entry)
    headers = [(":status", str(status)), ("apns-id", apns_id)]
    if response is None:
        connection.send_headers(stream_id, headers, end_stream=True)
        return
    body = json.dumps(response).encode()
    headers += [("content-type", "application/json"), ("content-length", str(len(body)))]
    connection.send_headers(stream_id, headers)
    connection.send_data(stream_id, body, end_stream=True)


async def _serve(port: int, directory: Path) -> None:
    ensure_credentials(directory)
    public_key = _load_private_key(directory / AUTH_KEY_FILE).public_key()

    async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _serve_connection(reader, writer, directory=directory, public_key=public_key)

    server = await asyncio.start_server(serve_connection, "127.0.0.1", port, ssl=_tls_context(directory))
    logger.info(
        "APNS sandbox on https://127.0.0.1:%d (HTTP/2), recording to %s", port, directory / "apns.jsonl"
    )
    async with server:
        await server.serve_forever()


def run(*, port: int, directory: Path) -> None:
    """Serve the APNS sandbox on 127.0.0.1:`port` until the process ends (blocking)."""
    asyncio.run(_serve(port, directory))
