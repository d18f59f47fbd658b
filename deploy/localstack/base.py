"""Where the stack lives, and running its commands: what every other module needs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VENV = ROOT / ".venv"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SERVICE_USER = "instagram"
# Debian's Python: what the service user runs repmgr's event hook and the
# pgbouncer re-render with (the virtualenv's interpreter may be root's own).
SYSTEM_PYTHON = "/usr/bin/python3"


class StackError(Exception):
    """A step failed; the message names the component and the log to read."""


def say(message: str) -> None:
    print(f"stack: {message}", flush=True)


def run(
    cmd: list[str],
    *,
    user: str | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
    quiet: bool = True,
) -> subprocess.CompletedProcess[str]:
    if user is not None and os.geteuid() == 0:
        cmd = ["runuser", "-u", user, "--", *cmd]
    result = subprocess.run(
        cmd,
        env={**os.environ, **(env or {})},
        text=True,
        stdout=subprocess.PIPE if quiet else None,
        stderr=subprocess.STDOUT if quiet else None,
        cwd=ROOT,
    )
    if check and result.returncode != 0:
        output = (result.stdout or "").strip()
        raise StackError(f"command failed ({result.returncode}): {' '.join(cmd)}\n{output}")
    return result
