"""The APNS sandbox refuses what Apple refuses, answers by token prefix, and makes its credentials once."""

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sandboxes import apns

KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
TOKEN = "ab" * 32


def bearer(
    *, key: ec.EllipticCurvePrivateKey = KEY, iat: float | None = None, kid: str | None = "KEY"
) -> str:
    headers = {"kid": kid} if kid else {}
    claims = {"iss": "TEAM", "iat": int(time.time() if iat is None else iat)}
    return "bearer " + jwt.encode(claims, key, algorithm="ES256", headers=headers)


def request(token: str = TOKEN, /, **changes: str | None) -> dict[str, str]:
    headers: dict[str, str | None] = {
        ":method": "POST",
        ":path": f"/3/device/{token}",
        "authorization": bearer(),
        "apns-topic": "com.burbn.instagram",
        "apns-push-type": "alert",
        "apns-priority": "10",
        "apns-expiration": "0",
        "apns-id": str(uuid.uuid4()),
        **changes,
    }
    return {name: value for name, value in headers.items() if value is not None}


BODY = json.dumps({"aps": {"alert": "kevin liked your photo."}}).encode()


def answer(headers: dict[str, str], body: bytes = BODY) -> tuple[int, dict[str, Any] | None]:
    status, response, entry = apns.answer(headers, body, KEY.public_key())
    assert entry["status"] == status
    return status, response


def test_a_valid_push_is_a_200_and_recorded_whole() -> None:
    headers = request()
    status, response, entry = apns.answer(headers, BODY, KEY.public_key())
    assert (status, response) == (200, None)
    assert entry["token"] == TOKEN
    assert entry["path"] == f"/3/device/{TOKEN}"
    assert entry["payload"] == {"aps": {"alert": "kevin liked your photo."}}
    assert entry["headers"]["apns-topic"] == "com.burbn.instagram"
    assert entry["headers"]["authorization"] == headers["authorization"]


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        (request(**{":method": "GET"}), 405, "MethodNotAllowed"),
        (request(**{":path": "/3/devices/x"}), 404, "BadPath"),
        (request(""), 400, "MissingDeviceToken"),
        (request("ab" * 31), 400, "BadDeviceToken"),
        (request("zz" * 32), 400, "BadDeviceToken"),
        (request(authorization=None), 403, "MissingProviderToken"),
        (request(authorization="bearer not.a.jwt"), 403, "InvalidProviderToken"),
        (request(authorization=bearer(key=OTHER_KEY)), 403, "InvalidProviderToken"),
        (request(authorization=bearer(kid=None)), 403, "InvalidProviderToken"),
        (request(authorization=bearer(iat=time.time() - 3700)), 403, "ExpiredProviderToken"),
        (request(**{"apns-topic": None}), 400, "MissingTopic"),
        (request(**{"apns-push-type": "shout"}), 400, "InvalidPushType"),
        (request(**{"apns-priority": "7"}), 400, "BadPriority"),
        (request(**{"apns-expiration": "soon"}), 400, "BadExpirationDate"),
        (request(**{"apns-id": "42"}), 400, "BadMessageId"),
    ],
)
def test_requests_apple_refuses(headers: dict[str, str], status: int, reason: str) -> None:
    assert answer(headers) == (status, {"reason": reason})


def test_payloads_apple_refuses() -> None:
    assert answer(request(), b"") == (400, {"reason": "PayloadEmpty"})
    big = json.dumps({"aps": {"alert": "x" * 4096}}).encode()
    assert answer(request(), big) == (413, {"reason": "PayloadTooLarge"})
    assert answer(request(), b"[1]") == (400, {"reason": "BadPayload"})
    assert answer(request(), b"{") == (400, {"reason": "BadPayload"})
    exactly = b'{"a":"' + b"x" * (4096 - 8) + b'"}'
    assert len(exactly) == 4096
    assert answer(request(), exactly)[0] == 200


def test_the_token_chooses_the_outcome() -> None:
    before = int(time.time() * 1000)
    status, response = answer(request("dead" + "0" * 60))
    assert status == 410
    assert response is not None
    assert response["reason"] == "Unregistered"
    assert response["timestamp"] >= before
    assert answer(request("bad0" + "0" * 60)) == (400, {"reason": "BadDeviceToken"})
    assert answer(request("5e3" + "0" * 61)) == (503, {"reason": "ServiceUnavailable"})
    assert answer(request("5E" + "0" * 62)) == (500, {"reason": "InternalServerError"})


def test_credentials_are_made_once_and_chain_to_the_ca(tmp_path: Path) -> None:
    apns.ensure_credentials(tmp_path)
    files = {name: (tmp_path / name).read_bytes() for name in ("ca.pem", "server.pem", "apns-auth-key.p8")}
    apns.ensure_credentials(tmp_path)
    assert files == {name: (tmp_path / name).read_bytes() for name in files}
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]  # no temporary left
    assert (tmp_path / "apns-auth-key.p8").stat().st_mode & 0o077 == 0
    ca = x509.load_pem_x509_certificate(files["ca.pem"])
    server = x509.load_pem_x509_certificate(files["server.pem"])
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    key = serialization.load_pem_private_key(files["apns-auth-key.p8"], password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    # A lost server certificate is made again, signed by the same CA.
    (tmp_path / "server.pem").unlink()
    apns.ensure_credentials(tmp_path)
    x509.load_pem_x509_certificate((tmp_path / "server.pem").read_bytes()).verify_directly_issued_by(ca)
    assert (tmp_path / "ca.pem").read_bytes() == files["ca.pem"]
