"""The APNS sandbox (HTTP/2 over TLS); the push notifications work fills it in."""

from pathlib import Path


def run(*, port: int, directory: Path) -> None:
    raise NotImplementedError
