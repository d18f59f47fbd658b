"""Running steps on hosts over SSH, in parallel, with one progress line per step."""

from __future__ import annotations

import io
import os
import shlex
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import paramiko
from fabric import Connection
from invoke.exceptions import Exit

from deploy.fleet.inventory import Host

T = TypeVar("T")


class HostError(Exception):
    """A step failed on one host; str() says which step and why."""


class RolloutError(Exception):
    """One or more hosts failed; carries each host's error, and the other hosts' results."""

    def __init__(self, failures: dict[Host, BaseException], results: dict[Host, Any]) -> None:
        self.failures = failures
        self.results = results
        super().__init__("; ".join(f"{host}: {error}" for host, error in failures.items()))


_print_lock = threading.Lock()
_started = time.monotonic()


def say(host: Host | None, message: str) -> None:
    """Print one progress line: seconds since fab started, the host, the message."""
    with _print_lock:
        print(f"{time.monotonic() - _started:6.1f}s [{host.name if host else 'fab'}] {message}", flush=True)


def tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class Remote:
    """An SSH session to one host, with its settings and shell helpers."""

    def __init__(self, host: Host) -> None:
        self.host = host
        connect_kwargs: dict[str, Any] = {}
        if host.identity:
            connect_kwargs["key_filename"] = os.path.expanduser(host.identity)
        self.conn = Connection(
            host=host.address,
            user=host.user,
            port=host.port,
            connect_kwargs=connect_kwargs,
            connect_timeout=15,
        )
        # Unknown host keys are refused (fabric would add them silently):
        # known_hosts is the operator's ~/.ssh/known_hosts, plus the inventory's file.
        client = self.conn.client
        client.load_system_host_keys()
        if host.known_hosts:
            client.load_host_keys(os.path.expanduser(host.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.close()

    def run(self, command: str, *, step: str, check: bool = True) -> str:
        """Run `command` with sh; raise HostError naming `step` when it fails."""
        try:
            result = self.conn.run(command, hide=True, warn=True, in_stream=False)
        except (OSError, paramiko.SSHException) as exc:
            raise HostError(f"{step}: ssh: {type(exc).__name__}: {exc}") from None
        if check and not result.ok:
            detail = tail(result.stderr) or tail(result.stdout) or f"exit status {result.exited}"
            raise HostError(f"{step}: {detail}")
        return str(result.stdout)

    def test(self, command: str, *, step: str) -> bool:
        try:
            result = self.conn.run(command, hide=True, warn=True, in_stream=False)
        except (OSError, paramiko.SSHException) as exc:
            raise HostError(f"{step}: ssh: {type(exc).__name__}: {exc}") from None
        return bool(result.ok)

    def put(self, local: Path | io.BytesIO, remote: str, *, step: str) -> None:
        try:
            self.conn.put(local if isinstance(local, io.BytesIO) else str(local), remote=remote)
        except (OSError, paramiko.SSHException) as exc:
            raise HostError(f"{step}: upload to {remote}: {exc}") from None

    def manage(self, release: str, *args: str, step: str) -> str:
        """Run manage.py of `release` (a folder under root) with the host's settings."""
        return self.run(
            f"cd {q(release)} && set -a && . {q(self.host.path('shared', 'env'))} && set +a"
            f" && ./venv/bin/python manage.py {' '.join(q(a) for a in args)}",
            step=step,
        )

    def supervisorctl(self, *args: str, step: str, check: bool = True) -> str:
        return self.run(
            f"{q(self.host.path('shared', 'supervisor', 'bin', 'supervisorctl'))}"
            f" -c {q(self.host.path('shared', 'supervisord.conf'))} {' '.join(q(a) for a in args)}",
            step=step,
            check=check,
        )


def q(value: str) -> str:
    return shlex.quote(value)


def on_hosts(hosts: Sequence[Host], action: Callable[[Remote], T]) -> dict[Host, T]:
    """Run `action` on every host in parallel; raise RolloutError naming each failed host."""
    results: dict[Host, T] = {}
    failures: dict[Host, BaseException] = {}

    def one(host: Host) -> T:
        with Remote(host) as remote:
            return action(remote)

    with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
        futures = {host: pool.submit(one, host) for host in hosts}
    for host, future in futures.items():
        try:
            results[host] = future.result()
        except Exception as exc:  # every host's failure is reported, none hides another
            failures[host] = exc
    if failures:
        raise RolloutError(failures, dict(results))
    return results


def fail(what: str, error: RolloutError) -> Exit:
    lines = [f"{what}:"] + [f"  {host}: {exc}" for host, exc in error.failures.items()]
    return Exit("\n".join(lines), code=1)
