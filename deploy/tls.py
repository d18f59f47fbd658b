"""A local certificate authority and nginx's server certificate, for the local stacks' HTTPS ports.

`python -m deploy.tls DIRECTORY [NAME ...]` writes, unless already there,
ca.pem (what a client verifies with: `curl --cacert`, `requests verify=`),
ca.key, server.pem and server.key, the server certificate valid for
localhost, 127.0.0.1 and the extra NAMEs (docker-compose's `nginx`).
Never committed: deploy/stack.py writes them into var/<profile>/tls, and
production points nginx at the certificate its own CA issued.
"""

import datetime
import ipaddress
import os
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_FILE = "ca.pem"
CA_KEY_FILE = "ca.key"
CERT_FILE = "server.pem"
KEY_FILE = "server.key"
# Under the 398 days browsers accept for a server certificate.
CERT_DAYS = 397


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Instagram local stack"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write(path: Path, data: bytes, *, private: bool) -> None:
    partial = path.with_suffix(path.suffix + ".part")
    partial.write_bytes(data)
    if private:
        partial.chmod(0o600)
    os.replace(partial, path)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def make_ca(directory: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Instagram local CA"))
        .issuer_name(_name("Instagram local CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=10 * 365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(directory / CA_KEY_FILE, _pem_key(key), private=True)
    _write(directory / CA_FILE, cert.public_bytes(serialization.Encoding.PEM), private=False)


def make_server_cert(directory: Path, names: list[str]) -> None:
    ca_key = serialization.load_pem_private_key((directory / CA_KEY_FILE).read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{directory / CA_KEY_FILE} is not an elliptic-curve key")
    ca_cert = x509.load_pem_x509_certificate((directory / CA_FILE).read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    alt_names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    alt_names += [x509.DNSName(name) for name in ["localhost", *names]]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write(directory / KEY_FILE, _pem_key(key), private=True)
    _write(directory / CERT_FILE, cert.public_bytes(serialization.Encoding.PEM), private=False)


def ensure_certificate(directory: Path, names: list[str]) -> None:
    """Create whichever of the CA and the server certificate `directory` lacks, or renew one near expiry."""
    directory.mkdir(parents=True, exist_ok=True)
    new_ca = not (directory / CA_FILE).exists() or not (directory / CA_KEY_FILE).exists()
    if new_ca:
        make_ca(directory)
    cert_path = directory / CERT_FILE
    renew = new_ca or not cert_path.exists() or not (directory / KEY_FILE).exists()
    if not renew:
        expires = x509.load_pem_x509_certificate(cert_path.read_bytes()).not_valid_after_utc
        renew = expires - datetime.datetime.now(datetime.UTC) < datetime.timedelta(days=30)
    if renew:
        make_server_cert(directory, names)


if __name__ == "__main__":
    ensure_certificate(Path(sys.argv[1]), sys.argv[2:])
