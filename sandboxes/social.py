"""The Twitter and Facebook sandboxes; the sharing work fills them in."""

from pathlib import Path


def run(*, service: str, port: int, directory: Path) -> None:
    raise NotImplementedError
