"""Debian packages, the service user, the virtualenv and the Node.js clients, installed when missing."""

from __future__ import annotations

import hashlib
import os
import pwd
import sys
from pathlib import Path

from deploy.localstack.base import PG_BIN, ROOT, SERVICE_USER, VENV, StackError, run, say

# Debian packages the stack needs, keyed by a file that proves each is there.
PACKAGES = {
    str(PG_BIN / "postgres"): "postgresql-15",
    "/usr/sbin/pgbouncer": "pgbouncer",
    # PostgreSQL high availability: repmgr clones and registers the standby,
    # repmgrd promotes it when the primary dies (docs/decisions/repmgr.md).
    str(PG_BIN / "repmgr"): "postgresql-15-repmgr",
    "/usr/bin/redis-server": "redis-server",
    "/usr/bin/redis-sentinel": "redis-sentinel",
    "/usr/bin/memcached": "memcached",
    "/usr/sbin/gearmand": "gearman-job-server",
    "/usr/sbin/nginx": "nginx",
    # Video uploads: transcoding and probing (photos/video.py).
    "/usr/bin/ffmpeg": "ffmpeg",
    "/usr/bin/wrk": "wrk",
    "/usr/bin/docker-compose": "docker-compose",
    "/usr/include/libmemcached/memcached.h": "libmemcached-dev",
    "/usr/include/zlib.h": "zlib1g-dev",
    "/usr/bin/gcc": "gcc",
    # The OAuth acceptance test: headless Chromium driven by selenium, its
    # screenshot read back by OCR; Liberation fonts (only recommended by
    # chromium) give the pages a Helvetica/Arial to render with.
    "/usr/bin/chromium": "chromium",
    "/usr/bin/chromedriver": "chromium-driver",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf": "fonts-liberation",
    "/usr/bin/tesseract": "tesseract-ocr",
    # Operations (issue 7): fab deploys over SSH (the tests run a real sshd on
    # loopback), and Munin's plugin runner for the app-level graphs.
    "/usr/sbin/sshd": "openssh-server",
    "/usr/sbin/munin-run": "munin-node",
    # WAL archiving and base backups into the object store (manage.py backup_postgres).
    "/usr/bin/barman-cloud-wal-archive": "barman-cli-cloud",
    # v1 client libraries of the era for Node.js, run by tests/clients.
    "/usr/bin/node": "nodejs",
    "/usr/bin/npm": "npm",
}


def ensure_packages() -> None:
    """Install the Debian packages that are missing, without starting their services."""
    missing = sorted({pkg for path, pkg in PACKAGES.items() if not Path(path).exists()})
    try:
        import ensurepip  # noqa: F401
    except ImportError:
        missing.append("python3-venv")
    if not missing:
        return
    if os.geteuid() != 0:
        raise StackError(f"missing Debian packages {' '.join(missing)}: run as root to install them")
    say(f"installing Debian packages: {' '.join(missing)}")
    # Debian would start each server on its default port; the stack runs its own.
    policy = Path("/usr/sbin/policy-rc.d")
    created_policy = not policy.exists()
    if created_policy:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        if (
            run(
                ["apt-get", "install", "-y", "--no-install-recommends", *missing], env=env, check=False
            ).returncode
            != 0
        ):
            run(["apt-get", "update"], env=env)
            run(["apt-get", "install", "-y", "--no-install-recommends", *missing], env=env)
    except StackError as exc:
        raise StackError(f"apt-get could not install {' '.join(missing)}:\n{exc}") from exc
    finally:
        if created_policy:
            policy.unlink()


def ensure_service_user() -> None:
    """Create the unprivileged user that PostgreSQL and the other servers run as."""
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        if os.geteuid() != 0:
            raise StackError(f"user {SERVICE_USER!r} is missing: run as root once to create it") from None
        say(f"creating system user {SERVICE_USER}")
        run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ]
        )
    if os.geteuid() == 0:
        probe = run(["test", "-x", str(ROOT / "deploy")], user=SERVICE_USER, check=False)
        if probe.returncode != 0:
            raise StackError(
                f"user {SERVICE_USER} cannot reach {ROOT}: every parent folder needs "
                "o+x (PostgreSQL refuses to run as root, so it runs as that user)"
            )


def ensure_venv() -> None:
    """Create .venv and install the pinned requirements when they changed."""
    stamp = VENV / ".requirements.sha256"
    digest = hashlib.sha256()
    for name in ("requirements.txt", "requirements-dev.txt", "requirements-clients.txt"):
        digest.update((ROOT / name).read_bytes())
    if stamp.exists() and stamp.read_text() == digest.hexdigest():
        return
    if not (VENV / "bin" / "python").exists():
        say("creating the virtualenv in .venv")
        run([sys.executable, "-m", "venv", str(VENV)])
    say("installing Python requirements into .venv (first run takes a minute)")
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    try:
        run([*pip, "install", "-q", "-r", "requirements-dev.txt"])
    except StackError as exc:
        raise StackError(f"pip could not install requirements-dev.txt:\n{exc}") from exc
    try:  # apart from the venv's packages: see requirements-clients.txt
        clients = str(VENV / "clients")
        run([*pip, "install", "-q", "--upgrade", "--target", clients, "-r", "requirements-clients.txt"])
    except StackError as exc:
        raise StackError(f"pip could not install requirements-clients.txt:\n{exc}") from exc
    stamp.write_text(digest.hexdigest())


def ensure_node_clients() -> None:
    """Install the Node.js v1 clients tests/clients runs (from its lock file) when it changed."""
    folder = ROOT / "tests" / "clients" / "node"
    stamp = folder / "node_modules" / ".package-lock.sha256"
    digest = hashlib.sha256((folder / "package-lock.json").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    say("installing the Node.js v1 clients of tests/clients")
    try:
        run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(folder)])
    except StackError as exc:
        raise StackError(f"npm could not install tests/clients/node:\n{exc}") from exc
    stamp.write_text(digest)
