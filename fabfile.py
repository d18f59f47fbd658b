"""Deploy the app to the hosts of an inventory, and operate them (fabric 3).

    fab deploy [--revision REV]     build, upload, install, migrate, switch, reload; in parallel
    fab rollback [--release ID]     switch `current` back (to the release before it by default)
    fab setup --env FILE            upload the hosts' settings (KEY=VALUE lines) to <root>/shared/env;
                                    lb hosts: nginx for every app server of the inventory
    fab status                      health of every host of every role; exit 1 if anything is down
    fab releases                    the releases each host holds, and its current one
    fab restart [--full]            graceful gunicorn reload and worker restarts (--full: new masters)
    fab migrate                     manage.py migrate, then migrate_shards, once
    fab shards                      the shard map and rows per shard
    fab backup                      PostgreSQL backups on the db hosts, Redis on the redis hosts
    fab failover                    promote the standby (manage.py failover on the db host)

The inventory is the TOML file named by $IG_INVENTORY (default deploy/inventory.toml);
deploy/inventory.example.toml documents every key. `fab -H name[,name...] <task>`
runs a task on those hosts only (inventory names, or user@address:port for a host
the inventory does not list). docs/deploy.md is the operator's guide.
"""

from __future__ import annotations

import getpass
import hashlib
import io
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import paramiko
from fabric import Connection
from fabric.executor import Executor
from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

ROOT = Path(__file__).resolve().parent
VAR = ROOT / "var"
DEFAULT_INVENTORY = ROOT / "deploy" / "inventory.toml"
HOST_TEMPLATES = ROOT / "deploy" / "hosts"

ROLES = ("app", "worker", "db", "redis", "cache", "gearman", "lb")
# Hosts that hold releases: app and worker hosts run them; db and redis hosts
# run their management commands (backups, failover) through them.
RELEASE_ROLES = ("app", "worker", "db", "redis")
# Default service ports the status checks probe on db, redis, cache and lb hosts.
SERVICE_PORTS = {
    "pg_port": 5432,
    "redis_port": 6379,
    "memcached_port": 11211,
    "gearman_port": 4730,
    "http_port": 80,
    # lb hosts: the API over HTTPS, and the CDN's two ports (deploy/nginx/nginx.conf).
    "https_port": 443,
    "cdn_port": 8001,
    "cdn_https_port": 8444,
}

T = TypeVar("T")


# ---------------------------------------------------------------- inventory


@dataclass(frozen=True, eq=False)
class Host:
    """One machine of the inventory: how to reach it and what it runs (hashed by identity)."""

    name: str
    address: str
    roles: tuple[str, ...]
    user: str = "deploy"
    port: int = 22
    root: str = "/srv/instagram"
    python: str = "python3"
    bind: str = "127.0.0.1:8000"
    workers: int = 2
    identity: str | None = None
    known_hosts: str | None = None
    # db hosts: what the topology file (ops/topology.py) says of their PostgreSQL.
    pg_bin: str = "/usr/lib/postgresql/15/bin"
    pg_data: str = "/var/lib/postgresql/15/main"
    pg_service: str = "postgresql@15-main"
    service_user: str = "postgres"
    # lb hosts: the nginx `fab setup` configures and runs, and what it listens with.
    nginx: str = "/usr/sbin/nginx"
    nginx_user: str = "www-data"
    listen: str = "0.0.0.0"  # noqa: S104 (the lb's public side)
    tls_certificate: str = "/etc/ssl/instagram/server.pem"
    tls_certificate_key: str = "/etc/ssl/instagram/server.key"
    services: dict[str, int] = field(default_factory=lambda: dict(SERVICE_PORTS))

    def __str__(self) -> str:
        return f"{self.name} ({self.user}@{self.address}:{self.port})"

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    @property
    def local_url(self) -> str:
        """The gunicorn bind as a URL the host itself can fetch."""
        address, _, port = self.bind.rpartition(":")
        if address in {"", "0.0.0.0", "[::]"}:  # noqa: S104 (a listen address, read here)
            address = "127.0.0.1"
        return f"http://{address}:{port}"


class InventoryError(Exception):
    """The inventory file is missing or wrong; the message says where."""


@dataclass(frozen=True)
class Inventory:
    path: Path
    hosts: dict[str, Host]
    defaults: dict[str, Any]
    keep_releases: int

    @classmethod
    def load(cls, path: Path) -> Inventory:
        if not path.exists():
            raise InventoryError(
                f"no inventory at {path}: copy deploy/inventory.example.toml there, "
                "or point IG_INVENTORY at yours"
            )
        with path.open("rb") as f:
            data = tomllib.load(f)
        defaults = dict(data.get("defaults", {}))
        keep = int(data.get("deploy", {}).get("keep_releases", 5))
        if keep < 2:
            raise InventoryError(f"{path}: deploy.keep_releases must be at least 2 (one to roll back to)")
        roles: dict[str, list[str]] = {}
        for role, names in data.get("roles", {}).items():
            if role not in ROLES:
                raise InventoryError(f"{path}: unknown role {role!r} (roles are {', '.join(ROLES)})")
            for name in names:
                if name not in data.get("hosts", {}):
                    raise InventoryError(f"{path}: role {role} names host {name!r}, which [hosts] lacks")
                roles.setdefault(name, []).append(role)
        hosts = {
            name: make_host(name, {**defaults, **settings}, tuple(roles.get(name, ())), where=path)
            for name, settings in data.get("hosts", {}).items()
        }
        return cls(path=path, hosts=hosts, defaults=defaults, keep_releases=keep)

    def select(self, roles: Iterable[str], only: Sequence[str] = ()) -> list[Host]:
        """Return the hosts having any of `roles`, in inventory order; `only` (from -H) narrows them."""
        wanted = set(roles)
        if not only:
            return [h for h in self.hosts.values() if wanted & set(h.roles)]
        chosen: list[Host] = []
        for spec in only:
            known = self.hosts.get(spec) or next(
                (h for h in self.hosts.values() if spec in {h.address, f"{h.address}:{h.port}"}), None
            )
            if known is None:
                # A host the inventory does not list: an app and worker host with the defaults.
                user, _, rest = spec.rpartition("@")
                address, _, port = rest.partition(":")
                if not address or not (port or "22").isdigit():
                    raise InventoryError(f"-H {spec}: give an inventory name or [user@]address[:port]")
                settings = {**self.defaults, "host": address}
                settings.update({"user": user} if user else {})
                settings.update({"port": int(port)} if port else {})
                known = make_host(spec, settings, ("app", "worker"), where=self.path)
            if wanted & set(known.roles):
                chosen.append(known)
        return chosen


def make_host(name: str, settings: dict[str, Any], roles: tuple[str, ...], *, where: Path) -> Host:
    settings = dict(settings)
    services = {key: int(settings.pop(key, default)) for key, default in SERVICE_PORTS.items()}
    try:
        return Host(
            name=name,
            address=str(settings.pop("host", name)),
            roles=roles,
            services=services,
            **settings,
        )
    except TypeError as exc:
        raise InventoryError(f"{where}: host {name}: {exc}") from None


def inventory_path() -> Path:
    return Path(os.environ.get("IG_INVENTORY", DEFAULT_INVENTORY))


# ---------------------------------------------------------------- running on hosts


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


# ---------------------------------------------------------------- building a release


@dataclass(frozen=True)
class Artifact:
    """What a deploy uploads: the revision's files and the wheels of its requirements."""

    revision: str
    release: str
    tarball: Path
    requirements_hash: str
    wheelhouse: Path


def git(*args: str) -> str:
    result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise Exit(f"git {' '.join(args)}: {result.stderr.strip()}", code=1)
    return result.stdout


def build_artifact(revision: str) -> Artifact:
    """Archive `revision` and build (once per requirements hash) the wheelhouse it installs from."""
    sha = git("rev-parse", "--verify", f"{revision}^{{commit}}").strip()
    requirements = git("show", f"{sha}:requirements.txt").encode()
    # Wheels (and so venvs) differ by Python version too: the hash covers both.
    req_hash = hashlib.sha256(requirements + local_python_version().encode()).hexdigest()[:16]
    release = time.strftime("%Y%m%d%H%M%S", time.gmtime()) + "-" + sha[:10]
    (VAR / "releases").mkdir(parents=True, exist_ok=True)
    # Made for each deploy (in a second) and removed after it; the wheelhouse is the cache.
    tarball = VAR / "releases" / f"{release}.tar.gz"
    git("archive", "--format=tar.gz", "-o", str(tarball), sha)
    wheelhouse = VAR / f"wheelhouse-{req_hash}.tar"
    if not wheelhouse.exists():
        say(None, f"building the wheelhouse of {revision}'s requirements (once per requirements hash)")
        folder = VAR / f"wheelhouse-{req_hash}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        (folder / "requirements.txt").write_bytes(requirements)
        wheel = ["wheel", "-q", "-w", str(folder), "-r", str(folder / "requirements.txt")]
        pip = subprocess.run(
            [sys.executable, "-m", "pip", "--disable-pip-version-check", *wheel],
            capture_output=True,
            text=True,
            check=False,
        )
        if pip.returncode != 0:
            raise Exit(f"pip wheel failed:\n{tail(pip.stderr)}", code=1)
        partial = wheelhouse.with_suffix(".tar.part")
        with tarfile.open(partial, "w") as tar:
            tar.add(folder, arcname=".")
        partial.rename(wheelhouse)
        shutil.rmtree(folder)
    return Artifact(
        revision=sha, release=release, tarball=tarball, requirements_hash=req_hash, wheelhouse=wheelhouse
    )


# ---------------------------------------------------------------- steps on one host


def local_python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def prepare(remote: Remote, artifact: Artifact) -> None:
    """Unpack the release into releases/<id> with its venv; nothing running changes."""
    host = remote.host
    shared = host.path("shared")
    remote.run(
        f"mkdir -p {q(host.path('releases'))} {q(shared)}/venvs {q(shared)}/wheelhouses"
        f" {q(shared)}/log {q(shared)}/run {q(shared)}/uploads",
        step="folders",
    )
    if not remote.test(f"test -f {q(host.path('shared', 'env'))}", step="settings"):
        raise HostError(f"settings: {host.path('shared', 'env')} is missing (fab setup --env FILE writes it)")
    version = remote.run(
        f"{q(host.python)} -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'", step="python"
    ).strip()
    if version != local_python_version():
        raise HostError(
            f"python: {host.python} is {version}, the wheels are built for {local_python_version()}"
        )
    wheels = host.path("shared", "wheelhouses", artifact.requirements_hash)
    if not remote.test(f"test -f {q(wheels)}/.complete", step="wheelhouse"):
        say(host, f"uploading the wheelhouse {artifact.requirements_hash}")
        upload = host.path("shared", "uploads", artifact.wheelhouse.name)
        remote.put(artifact.wheelhouse, upload, step="wheelhouse")
        remote.run(
            f"rm -rf {q(wheels)} && mkdir -p {q(wheels)} && tar -xf {q(upload)} -C {q(wheels)}"
            f" && rm -f {q(upload)} && touch {q(wheels)}/.complete",
            step="wheelhouse",
        )
    release = host.path("releases", artifact.release)
    upload = host.path("shared", "uploads", f"{artifact.release}.tar.gz")
    say(host, f"unpacking {artifact.release}")
    remote.put(artifact.tarball, upload, step="upload")
    remote.run(
        f"mkdir {q(release)} && tar -xzf {q(upload)} -C {q(release)}"
        f" && rm -f {q(upload)} && echo {q(artifact.revision)} > {q(release)}/REVISION",
        step="unpack",
    )
    venv = host.path("shared", "venvs", artifact.requirements_hash)
    if not remote.test(f"test -f {q(venv)}/.complete", step="venv"):
        say(host, f"installing the virtualenv {artifact.requirements_hash} (offline, from the wheelhouse)")
        remote.run(
            f"rm -rf {q(venv)} && {q(host.python)} -m venv {q(venv)}"
            f" && {q(venv)}/bin/python -m pip install -q --disable-pip-version-check --no-index"
            f" --no-compile --find-links {q(wheels)} -r {q(release)}/requirements.txt"
            f" && touch {q(venv)}/.complete",
            step="venv",
        )
        say(host, "virtualenv installed")
    remote.run(f"ln -sfn ../../shared/venvs/{artifact.requirements_hash} {q(release)}/venv", step="venv")
    # Into the release's own STATIC_ROOT (WhiteNoise serves it): the old release
    # keeps its files until the switch, so no page is served with the wrong CSS.
    remote.manage(release, "collectstatic", "--no-input", "-v", "0", step="collectstatic")
    # Imports every app with this host's settings: a host that cannot run the
    # release stops the rollout here, before any host switches. --deploy adds
    # the production checks (HSTS, secure cookies, the keys): settings.py
    # refuses development keys outside the local stacks, and any check error
    # fails the step.
    remote.manage(release, "check", "--deploy", step="manage.py check --deploy")
    say(host, "ready: manage.py check --deploy passed")


def switch(remote: Remote, release: str) -> None:
    """Point `current` at releases/<release> in one rename (atomic)."""
    host = remote.host
    if not remote.test(f"test -d {q(host.path('releases', release))}", step="switch"):
        raise HostError(f"switch: release {release} is not on this host")
    remote.run(
        f"cd {q(host.root)} && ln -sfn releases/{q(release)} current.next && mv -T current.next current",
        step="switch",
    )


def render_supervisor_config(host: Host) -> str:
    from deploy.stack import render  # the stack's {{name}} templates, shared

    parts = [(HOST_TEMPLATES / "supervisord.conf").read_text()]
    if "app" in host.roles:
        parts.append((HOST_TEMPLATES / "app.conf").read_text())
    if "worker" in host.roles and host.workers > 0:
        parts.append((HOST_TEMPLATES / "worker.conf").read_text())
    values = {"root": host.root.rstrip("/"), "name": host.name, "bind": host.bind, "workers": host.workers}
    return render("".join(parts), values)


def runs_processes(host: Host) -> bool:
    return "app" in host.roles or ("worker" in host.roles and host.workers > 0)


def supervisord_running(remote: Remote) -> bool:
    host = remote.host
    ctl = host.path("shared", "supervisor", "bin", "supervisorctl")
    return remote.test(
        f"test -x {q(ctl)} && {q(ctl)} -c {q(host.path('shared', 'supervisord.conf'))} pid"
        " | grep -qE '^[0-9]+$'",
        step="supervisord",
    )


def activate(remote: Remote, revision: str, *, full: bool = False) -> None:
    """Make the host's processes run `current` (which holds `revision`): start them, or reload.

    gunicorn gets SIGHUP: its master keeps the socket open, starts workers
    from `current` and lets the old ones finish their requests. Once the host
    serves `revision`, each worker process is restarted in turn, after its
    running job. `full` restarts gunicorn's master too.
    """
    host = remote.host
    if not runs_processes(host):
        return
    conf_path = host.path("shared", "supervisord.conf")
    config = render_supervisor_config(host)
    old = remote.run(f"cat {q(conf_path)} 2>/dev/null || true", step="supervisord")
    changed = old != config
    if changed:
        remote.put(io.BytesIO(config.encode()), conf_path, step="supervisord")
    if not supervisord_running(remote):
        # supervisord lives as long as the host, beyond any release: it runs
        # from the venv `shared/supervisor` names, which pruning keeps.
        venv = remote.run(f"readlink {q(host.path('current', 'venv'))}", step="supervisord").strip()
        remote.run(
            f"cd {q(host.path('shared'))} && ln -sfn {q(venv.replace('../../shared/', ''))} supervisor"
            f" && ./supervisor/bin/supervisord -c {q(conf_path)}",
            step="supervisord",
        )
        say(host, "supervisord started")
        wait_serving(remote, revision)
        return
    restarted: set[str] = set()
    if changed:
        # Programs whose section changed (bind, worker count) restart here, at once.
        reread = remote.supervisorctl("reread", step="supervisord")
        restarted = {ln.split(":")[0] for ln in reread.splitlines() if ln.endswith(("changed", "available"))}
        remote.supervisorctl("update", step="supervisord")
        say(host, f"supervisord.conf changed: restarted {', '.join(sorted(restarted)) or 'nothing'}")
    if "app" in host.roles:
        if "app" not in restarted:
            reload_gunicorn(remote, full=full)
        wait_serving(remote, revision)
    if "worker" in host.roles and host.workers > 0 and "worker" not in restarted:
        for number in range(host.workers):
            remote.supervisorctl("restart", f"worker:worker-{number}", step="workers")
            say(host, f"worker-{number} restarted after its job")


def reload_gunicorn(remote: Remote, *, full: bool) -> None:
    """SIGHUP the gunicorn master (start or restart it when `full` or when it is not running)."""
    if not full and remote.test(
        f"{q(remote.host.path('shared', 'supervisor', 'bin', 'supervisorctl'))}"
        f" -c {q(remote.host.path('shared', 'supervisord.conf'))} signal HUP app | grep -q 'app: signalled'",
        step="gunicorn",
    ):
        say(remote.host, "gunicorn reloaded (HUP)")
        return
    remote.supervisorctl("restart", "app", step="gunicorn")
    say(remote.host, "gunicorn restarted")


# A probe the host runs with its own python: GET the URL until it answers 200
# from `want` release several times in a row (old gunicorn workers may still
# finish a request or two after the reload).
PROBE = """
import sys, time, urllib.request
url, want, deadline, seen, last = sys.argv[1], sys.argv[2], time.monotonic() + float(sys.argv[3]), 0, ""
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            last = "%s from release %s" % (response.status, response.headers.get("X-Release"))
            # X-Release is "<version>+<revision>": the revision is the build metadata.
            revision = (response.headers.get("X-Release") or "").rsplit("+", 1)[-1]
            ok = response.status == 200 and revision == want
    except Exception as exc:
        last, ok = "%s: %s" % (type(exc).__name__, exc), False
    seen = seen + 1 if ok else 0
    if seen >= 5:
        sys.exit(0)
    time.sleep(0.1)
sys.exit("%s: no steady answer from release %s within %ss (last: %s)" % (url, want, sys.argv[3], last))
"""


def wait_serving(remote: Remote, revision: str, *, timeout: float = 90) -> None:
    host = remote.host
    if "app" not in host.roles:
        return
    remote.run(
        f"{q(host.python)} -c {q(PROBE)} {q(host.local_url + '/ping')} {q(revision)} {timeout:.0f}",
        step="serving",
    )
    say(host, f"serving {revision[:10]}")


def release_state(remote: Remote) -> tuple[list[str], str | None]:
    """Return the host's releases (oldest first) and the current one."""
    host = remote.host
    listing = remote.run(f"ls -1 {q(host.path('releases'))} 2>/dev/null || true", step="releases")
    current = remote.run(f"readlink {q(host.path('current'))} || true", step="releases").strip()
    return sorted(listing.split()), (current.rsplit("/", 1)[-1] or None)


def prune(remote: Remote, keep: int) -> None:
    """Keep the newest `keep` releases (and `current`), then the venvs and wheels they use."""
    host = remote.host
    releases, current = release_state(remote)
    doomed = [r for r in releases[:-keep] if r != current]
    if doomed:
        remote.run("rm -rf " + " ".join(q(host.path("releases", r)) for r in doomed), step="prune releases")
    used = remote.run(
        f"cd {q(host.root)} && for link in releases/*/venv shared/supervisor; do"
        ' [ -L "$link" ] && basename "$(readlink "$link")"; done; true',
        step="prune venvs",
    ).split()
    for kind in ("venvs", "wheelhouses"):
        names = remote.run(f"ls -1 {q(host.path('shared', kind))} 2>/dev/null || true", step="prune").split()
        stale = [n for n in names if n not in used]
        if stale:
            remote.run("rm -rf " + " ".join(q(host.path("shared", kind, n)) for n in stale), step="prune")


# ---------------------------------------------------------------- fab plumbing


class InventoryExecutor(Executor):  # type: ignore[misc]
    """Run each task once with the `-H` hosts in its config, instead of once per host.

    A rollout prepares every host before it switches any, so a task must see
    the whole host list; fabric's own executor would call it once per host.
    fabric.yaml (next to this file) selects this class.
    """

    def expand_calls(self, calls: list[Any], apply_hosts: bool = True) -> list[Any]:
        hosts = self.core[0].args.hosts.value if self.core else None
        if apply_hosts and hosts:
            self.config["cli_hosts"] = [h.strip() for h in hosts.split(",") if h.strip()]
        return list(super().expand_calls(calls, apply_hosts=False))


def targets(c: Context, roles: Iterable[str]) -> tuple[Inventory, list[Host]]:
    """Return the inventory and its hosts of `roles` (narrowed by -H); exit when there are none."""
    if isinstance(c, Connection):
        raise Exit("run fab from the repository root: its fabric.yaml selects fabfile.InventoryExecutor")
    roles = tuple(roles)
    try:
        inventory = Inventory.load(inventory_path())
        hosts = inventory.select(roles, c.config.get("cli_hosts") or ())
    except (InventoryError, tomllib.TOMLDecodeError) as exc:
        raise Exit(str(exc), code=2) from None
    if not hosts:
        raise Exit(f"no host with role {' or '.join(roles)} in {inventory.path}", code=2)
    return inventory, hosts


def fail(what: str, error: RolloutError) -> Exit:
    lines = [f"{what}:"] + [f"  {host}: {exc}" for host, exc in error.failures.items()]
    return Exit("\n".join(lines), code=1)


@contextmanager
def rollout_lock(hosts: Sequence[Host], what: str) -> Iterator[None]:
    """Hold <root>/shared/rollout.lock on every host while a deploy or rollback runs.

    mkdir is atomic, so of two operators one gets the lock and the other stops
    before changing anything, told who holds it. A lock left by a killed fab
    stays until removed by hand (the message says where).
    """
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    owner = f"{what}, by {getpass.getuser()}@{socket.gethostname()} since {stamp}"

    def lock_path(host: Host) -> str:
        return host.path("shared", "rollout.lock")

    def take(remote: Remote) -> None:
        lock = lock_path(remote.host)
        remote.run(f"mkdir -p {q(remote.host.path('shared'))}", step="lock")
        if not remote.test(f"mkdir {q(lock)} 2>/dev/null && echo {q(owner)} > {q(lock)}/owner", step="lock"):
            holder = remote.run(f"cat {q(lock)}/owner 2>/dev/null || true", step="lock").strip()
            raise HostError(
                f"lock: {lock} is held ({holder or 'by whom unknown'}); remove it if that is over"
            )

    def give_back(hosts: Sequence[Host]) -> None:
        try:
            on_hosts(hosts, lambda r: r.run(f"rm -rf {q(lock_path(r.host))}", step="unlock"))
        except RolloutError as exc:
            say(None, f"could not remove every rollout lock: {exc}")

    try:
        on_hosts(hosts, take)
    except RolloutError as exc:
        give_back(list(exc.results))
        raise fail(f"{what} stopped: another rollout runs (nothing changed)", exc) from None
    try:
        yield
    finally:
        give_back(hosts)


def first_with(hosts: Sequence[Host], role: str) -> Host:
    return next((h for h in hosts if role in h.roles), hosts[0])


# ---------------------------------------------------------------- tasks


@task(help={"revision": "git revision to deploy (default HEAD)"})
def deploy(c: Context, revision: str = "HEAD") -> None:
    """Deploy a git revision to every app, worker, db and redis host, in parallel."""
    inventory, hosts = targets(c, RELEASE_ROLES)
    started = time.monotonic()
    artifact = build_artifact(revision)
    try:
        roll_out(artifact, hosts, keep=inventory.keep_releases)
    finally:
        artifact.tarball.unlink(missing_ok=True)
    say(None, f"deployed {artifact.release} in {time.monotonic() - started:.1f}s")


def roll_out(artifact: Artifact, hosts: Sequence[Host], *, keep: int) -> None:
    """Prepare every host, migrate once, switch and reload every host, prune; stop at a failed step."""
    subject = git("log", "-1", "--format=%s", artifact.revision).strip()
    say(None, f"deploying {artifact.release} ({subject[:60]}) to {', '.join(h.name for h in hosts)}")
    with rollout_lock(hosts, f"deploy of {artifact.release}"):
        try:
            on_hosts(hosts, lambda r: prepare(r, artifact))
        except RolloutError as exc:
            discard(hosts, artifact.release)
            raise fail("deploy stopped before the switch; no host changed its current release", exc) from None
        migrator = first_with(hosts, "app")
        say(migrator, "manage.py migrate, then migrate_shards")
        try:
            on_hosts([migrator], lambda r: migrate_release(r, r.host.path("releases", artifact.release)))
        except RolloutError as exc:
            discard(hosts, artifact.release)
            raise fail("deploy stopped before the switch: migrations failed", exc) from None
        switch_and_reload(hosts, artifact.release, artifact.revision)
        try:
            on_hosts(hosts, lambda r: prune(r, keep))
        except RolloutError as exc:
            say(None, f"pruning old releases failed (the deploy itself is done): {exc}")


def discard(hosts: Sequence[Host], release: str) -> None:
    """Remove a release that never became current from every host (best effort)."""
    try:
        on_hosts(
            hosts,
            lambda r: r.run(
                f'cd {q(r.host.root)} && {{ [ "$(readlink current)" = releases/{q(release)} ]'
                f" || rm -rf releases/{q(release)}; }}",
                step="discard",
            ),
        )
    except RolloutError as exc:
        say(None, f"could not remove the unused release {release} everywhere: {exc}")


# manage.py migrate, then migrate_shards, in one process (one Django start-up).
MIGRATE = (
    "import django; django.setup(); from django.core.management import call_command;"
    " call_command('migrate', interactive=False); call_command('migrate_shards')"
)


def migrate_release(remote: Remote, release: str) -> None:
    """Apply the migrations of `release` (a folder on the host) to the main database and every shard."""
    host = remote.host
    output = remote.run(
        f"cd {q(release)} && set -a && . {q(host.path('shared', 'env'))} && set +a"
        f" && ./venv/bin/python -c {q(MIGRATE)}",
        step="migrate",
    )
    for line in output.splitlines():
        say(host, line.strip())


def switch_and_reload(hosts: Sequence[Host], release: str, revision: str) -> None:
    """Switch every host, then reload each; report the hosts that do not serve `revision`."""
    try:
        on_hosts(hosts, lambda r: switch(r, release))
    except RolloutError as exc:
        raise fail(f"switching to {release} failed (other hosts did switch: fab rollback)", exc) from None

    try:
        on_hosts(hosts, lambda r: activate(r, revision))
    except RolloutError as exc:
        raise fail(f"{release} is current, but the hosts below do not serve it", exc) from None


@task(help={"release": "release id to switch to (default: the one before the current release)"})
def rollback(c: Context, release: str = "") -> None:
    """Switch every host back to an earlier release, and reload it."""
    _, hosts = targets(c, RELEASE_ROLES)
    with rollout_lock(hosts, "rollback"):
        try:
            states = on_hosts(hosts, release_state)
        except RolloutError as exc:
            raise fail("rollback stopped before the switch", exc) from None
        if not release:
            releases, current = states[hosts[0]]
            older = [r for r in releases if current is None or r < current]
            if not older:
                raise Exit(f"{hosts[0]} has no release older than {current} to roll back to", code=1)
            release = older[-1]
        missing = [str(h) for h, (releases, _) in states.items() if release not in releases]
        if missing:
            raise Exit(
                f"rollback stopped before the switch: {release} is not on {', '.join(missing)}", code=1
            )
        revision_file = f"releases/{release}/REVISION"
        revisions = on_hosts(
            hosts[:1], lambda r: r.run(f"cat {q(r.host.path(revision_file))}", step="revision")
        )
        say(None, f"rolling back to {release}")
        switch_and_reload(hosts, release, revisions[hosts[0]].strip())
    say(None, f"rolled back to {release}")


def render_topology(inventory: Inventory, host: Host) -> str:
    """Return the topology file (ops/topology.py) of a db or redis host, from the inventory.

    The db hosts, in inventory order, are the PostgreSQL nodes (the first is
    the primary until a failover records another); the first redis host is
    the Redis primary. Services run under systemd.
    """
    dbs = [h for h in inventory.hosts.values() if "db" in h.roles][:2]
    redis = next((h for h in inventory.hosts.values() if "redis" in h.roles), host)
    lines = [
        "# Written by `fab setup` from the inventory; read by ops/topology.py.",
        "[host]",
        'service_manager = "systemctl"',
        f"service_user = {json.dumps(host.service_user)}",
        "",
        "[postgres]",
        f"bin = {json.dumps(host.pg_bin)}",
        'socket_dir = "/var/run/postgresql"',
        'primary_file = "postgres-primary"',
        'replication_user = "replicator"',
        'standby_name = "standby1"',
        'database = "instagram_main"',
        'db_user = "instagram"',
        'pgbouncer_reconfigure = ["systemctl", "reload", "pgbouncer"]',
    ]
    for db in dbs:
        lines += [
            "",
            "[[postgres.nodes]]",
            f"name = {json.dumps(db.pg_service)}",
            f"host = {json.dumps(db.address)}",
            f"port = {db.services['pg_port']}",
            f"data = {json.dumps(db.pg_data)}",
        ]
    lines += ["", "[redis]", 'service = "redis-server"', f"port = {redis.services['redis_port']}", ""]
    return "\n".join(lines)


def inventory_settings(inventory: Inventory, host: Host, given: set[str]) -> dict[str, str]:
    """Return the settings the inventory decides for `host`, those the uploaded file lacks.

    gunicorn trusts X-Forwarded-* from the lb hosts only; ops commands on db
    and redis hosts read the topology file `fab setup` writes next to the
    settings.
    """

    def addresses(*roles: str) -> str:
        return ",".join(h.address for h in inventory.hosts.values() if set(roles) & set(h.roles))

    def servers(role: str, port: str) -> str:
        hosts = [h for h in inventory.hosts.values() if role in h.roles]
        return ",".join(f"{h.address}:{h.services[port]}" for h in hosts)

    derived = {
        "FORWARDED_ALLOW_IPS": addresses("lb") or "127.0.0.1",
        # Every app and worker talks to all of them: memcached keys are spread
        # over the cache hosts (pylibmc's consistent hashing), jobs over the
        # gearmand hosts (a client tries the next one when one is down).
        "MEMCACHED_SERVERS": servers("cache", "memcached_port"),
        "GEARMAN_SERVERS": servers("gearman", "gearman_port"),
    }
    if {"db", "redis"} & set(host.roles):
        derived["IG_TOPOLOGY"] = host.path("shared", "topology.toml")
    return {key: value for key, value in derived.items() if value and key not in given}


def env_values(text: str) -> dict[str, str]:
    """The KEY=VALUE lines of a settings file (comments and blank lines skipped, quotes dropped)."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.lstrip().startswith("#"):
            values[key.strip()] = value.strip().strip("'\"")
    return values


def render_lb_nginx(inventory: Inventory, host: Host, settings: dict[str, str]) -> str:
    """Return nginx.conf for lb `host`: the API in front of every app host, and the CDN.

    The same template the local stack runs (deploy/nginx/nginx.conf). The
    upstream lists each app host of the inventory at its gunicorn bind (its
    address where the bind is a wildcard or loopback); the CDN takes purges
    from the app and worker hosts only (the ones that delete photos) and
    fetches from the S3 origin of the settings.
    """
    from deploy.stack import geo_allow, render, upstream_servers

    def reachable(app: Host) -> str:
        address, _, port = app.bind.rpartition(":")
        if address in {"", "0.0.0.0", "[::]", "127.0.0.1", "localhost"}:  # noqa: S104
            address = app.address
        return f"{address}:{port}"

    apps = [reachable(h) for h in inventory.hosts.values() if "app" in h.roles]
    if not apps:
        raise Exit("the inventory has lb hosts but no app host to send them to", code=2)
    purgers = sorted({h.address for h in inventory.hosts.values() if {"app", "worker"} & set(h.roles)})
    origin = urlsplit(settings.get("S3_ENDPOINT_URL", ""))
    if not origin.netloc:
        raise Exit("the settings file names no S3_ENDPOINT_URL for the CDN on the lb hosts", code=2)
    folder = host.path("shared", "nginx")
    values = {
        "nginx_user": host.nginx_user,
        "var": folder,
        "log": f"{folder}/log",
        "run": f"{folder}/run",
        "listen_host": host.listen,
        "nginx_port": host.services["http_port"],
        "nginx_tls_port": host.services["https_port"],
        "cdn_port": host.services["cdn_port"],
        "cdn_tls_port": host.services["cdn_https_port"],
        "tls_certificate": host.tls_certificate,
        "tls_certificate_key": host.tls_certificate_key,
        "app_servers": upstream_servers(apps),
        "status_allow": host.address,
        "cdn_purge_allow": geo_allow([f"{address}/32" for address in purgers]),
        "s3_addr": origin.netloc,
        "bucket": settings.get("S3_BUCKET", "instagram-media"),
    }
    return render((ROOT / "deploy" / "nginx" / "nginx.conf").read_text(), values)


def configure_lb(remote: Remote, config: str) -> None:
    """Install `config` as the host's nginx.conf (checked by `nginx -t` first); start or reload nginx.

    Unchanged, nothing happens: a second `fab setup` changes nothing.
    """
    host = remote.host
    folder = host.path("shared", "nginx")
    conf, pid = f"{folder}/nginx.conf", f"{folder}/run/nginx.pid"
    remote.run(f"mkdir -p {q(folder)}/log {q(folder)}/run {q(folder)}/nginx", step="lb")
    remote.put(io.BytesIO(config.encode()), f"{conf}.next", step="lb")
    if remote.test(f"cmp -s {q(conf)}.next {q(conf)} && kill -0 $(cat {q(pid)})", step="lb"):
        remote.run(f"rm -f {q(conf)}.next", step="lb")
        say(host, "nginx: configuration unchanged")
        return
    remote.run(f"{q(host.nginx)} -t -q -c {q(conf)}.next", step="lb: nginx -t")
    remote.run(f"mv {q(conf)}.next {q(conf)}", step="lb")
    if remote.test(f"kill -0 $(cat {q(pid)})", step="lb"):
        remote.run(f"{q(host.nginx)} -c {q(conf)} -s reload", step="lb: reload nginx")
        say(host, "nginx reloaded")
    else:
        remote.run(f"{q(host.nginx)} -c {q(conf)}", step="lb: start nginx")
        say(host, "nginx started")


@task(help={"env": "local file of KEY=VALUE settings for the hosts (the app's environment)"})
def setup(c: Context, env: str) -> None:
    """Write <root>/shared/env (mode 600) on every app, worker, db and redis host, and the topology file;
    configure and start nginx on the lb hosts.

    The settings file, then what the inventory decides and the file does not
    say (inventory_settings); db and redis hosts get shared/topology.toml; lb
    hosts get nginx in front of every app host of the inventory (render_lb_nginx).
    """
    inventory, hosts = targets(c, (*RELEASE_ROLES, "lb"))
    source = Path(env)
    if not source.is_file():
        raise Exit(f"no such file: {env}", code=2)
    text = source.read_text()
    given = {line.split("=", 1)[0].strip() for line in text.splitlines() if "=" in line}
    lb_configs = {h: render_lb_nginx(inventory, h, env_values(text)) for h in hosts if "lb" in h.roles}

    def upload(remote: Remote) -> None:
        host = remote.host
        if host in lb_configs:
            configure_lb(remote, lb_configs[host])
        if not set(RELEASE_ROLES) & set(host.roles):
            return
        shared = host.path("shared")
        extra = inventory_settings(inventory, host, given)
        with tempfile.TemporaryDirectory() as folder:
            rendered = Path(folder) / "env"
            rendered.write_text(text.rstrip("\n") + "\n" + "".join(f"{k}={v}\n" for k, v in extra.items()))
            remote.run(f"mkdir -p {q(shared)} && umask 077 && touch {q(shared)}/env.next", step="setup")
            remote.put(rendered, f"{shared}/env.next", step="setup")
            if {"db", "redis"} & set(host.roles):
                topology = Path(folder) / "topology.toml"
                topology.write_text(render_topology(inventory, host))
                remote.put(topology, f"{shared}/topology.toml", step="setup")
        remote.run(f"chmod 600 {q(shared)}/env.next && mv {q(shared)}/env.next {q(shared)}/env", step="setup")
        say(host, f"settings written to {shared}/env")

    try:
        on_hosts(hosts, upload)
    except RolloutError as exc:
        raise fail("setup failed", exc) from None


@task
def releases(c: Context) -> None:
    """List the releases on every host; the current one is starred."""
    _, hosts = targets(c, RELEASE_ROLES)
    try:
        states = on_hosts(hosts, release_state)
    except RolloutError as exc:
        raise fail("could not list releases", exc) from None
    for host, (names, current) in states.items():
        for name in names:
            say(host, f"{'*' if name == current else ' '} {name}")


@task(help={"full": "restart gunicorn's master too (after a gunicorn upgrade or a settings change)"})
def restart(c: Context, full: bool = False) -> None:
    """Reload gunicorn gracefully and restart workers between jobs (starting whatever is stopped)."""
    _, hosts = targets(c, ("app", "worker"))

    def one(remote: Remote) -> None:
        _, current = release_state(remote)
        if current is None:
            raise HostError("restart: nothing deployed yet (fab deploy)")
        revision = remote.run(f"cat {q(remote.host.path('current', 'REVISION'))}", step="revision").strip()
        activate(remote, revision, full=full)

    try:
        on_hosts(hosts, one)
    except RolloutError as exc:
        raise fail("restart failed", exc) from None


@task
def migrate(c: Context) -> None:
    """Apply migrations of the current release: manage.py migrate, then migrate_shards (once)."""
    _, hosts = targets(c, ("app", "worker"))
    migrator = first_with(hosts, "app")
    try:
        on_hosts([migrator], lambda r: migrate_release(r, r.host.path("current")))
    except RolloutError as exc:
        raise fail("migrate failed", exc) from None


@task
def shards(c: Context) -> None:
    """Print the shard map (ranges per database) and the rows in every shard."""
    _, hosts = targets(c, ("app", "worker"))
    host = first_with(hosts, "app")
    try:
        output = on_hosts(
            [host], lambda r: r.manage(r.host.path("current"), "shard_map", "--counts", step="shard_map")
        )
    except RolloutError as exc:
        raise fail("shards failed", exc) from None
    print(output[host], end="", flush=True)


def run_commands(commands: dict[Host, list[list[str]]], what: str) -> None:
    """Run manage.py commands through each host's current release (hosts in parallel); print their output."""

    def one(remote: Remote) -> None:
        for args in commands[remote.host]:
            output = remote.manage(remote.host.path("current"), *args, step=f"manage.py {args[0]}")
            for line in output.splitlines():
                say(remote.host, line)

    try:
        on_hosts(list(commands), one)
    except RolloutError as exc:
        raise fail(f"{what} failed", exc) from None


@task(help={"list": "list the backups in the object store instead of taking new ones"})
def backup(c: Context, list_: bool = False) -> None:
    """Back up PostgreSQL on every db host and Redis on every redis host (manage.py backup_*)."""
    _, hosts = targets(c, ("db", "redis"))
    flags = ["--list"] if list_ else []
    commands = {
        host: [
            [f"backup_{kind}", *flags]
            for role, kind in (("db", "postgres"), ("redis", "redis"))
            if role in host.roles
        ]
        for host in hosts
    }
    run_commands(commands, "backup")


@task(
    help={
        "planned": "switchover: stop the running primary cleanly first (loses nothing)",
        "force": "fail over even though the primary answers (it is fenced)",
        "no-rebuild": "leave the old primary stopped (manage.py rebuild_standby later)",
    }
)
def failover(c: Context, planned: bool = False, force: bool = False, no_rebuild: bool = False) -> None:
    """Promote the PostgreSQL standby: manage.py failover on the db host (-H picks one of several)."""
    _, hosts = targets(c, ("db",))
    if len(hosts) > 1:
        raise Exit(f"several db hosts ({', '.join(h.name for h in hosts)}): choose one with -H", code=2)
    flags = [
        f"--{name}" for name, on in (("planned", planned), ("force", force), ("no-rebuild", no_rebuild)) if on
    ]
    run_commands({hosts[0]: [["failover", *flags]]}, "failover")


# ---------------------------------------------------------------- status


@dataclass
class HostStatus:
    lines: list[str] = field(default_factory=list)
    down: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.lines.append(f"{'ok  ' if ok else 'DOWN'} {name:<10} {detail}")
        if not ok:
            self.down.append(name)


HTTP_CHECK = """
import json, sys, urllib.request, urllib.error
try:
    with urllib.request.urlopen(sys.argv[1], timeout=10) as response:
        status, body, release = response.status, response.read(), response.headers.get("X-Release")
except urllib.error.HTTPError as exc:
    status, body, release = exc.code, exc.read(), exc.headers.get("X-Release")
try:
    down = json.loads(body).get("down") or []
except ValueError:
    down = []
print(status, release, ",".join(down))
"""

# `version` in memcached's text protocol and in gearmand's admin protocol.
VERSION_CHECK = """
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) as s:
    s.sendall(b"version\\n")
    print(s.recv(100).decode().strip())
"""


def host_status(remote: Remote) -> HostStatus:
    host, status = remote.host, HostStatus()
    status.check("ssh", True, remote.run("uptime", step="uptime").strip())
    py = q(host.python)
    if set(host.roles) & set(RELEASE_ROLES):
        _, current = release_state(remote)
        status.check("release", current is not None, current or "nothing deployed")
    if runs_processes(host):
        running = supervisord_running(remote)
        programs = remote.supervisorctl("status", step="status", check=False) if running else ""
        bad = [ln.split()[0] for ln in programs.splitlines() if ln.split()[1:2] != ["RUNNING"]]
        count = len(programs.splitlines())
        detail = (
            f"{count} programs running" if running and not bad else f"not running: {bad or 'supervisord'}"
        )
        status.check("processes", running and not bad, detail)
    for role, url in (
        ("app", host.local_url + "/health"),
        ("lb", f"http://127.0.0.1:{host.services['http_port']}/health"),
    ):
        if role in host.roles:
            out = remote.run(f"{py} -c {q(HTTP_CHECK)} {q(url)}", step=role, check=False).split()
            ok = bool(out) and out[0] == "200"
            status.check(role, ok, f"{url}: {' '.join(out) or 'no answer'}")
    if "db" in host.roles:
        port = host.services["pg_port"]
        ok = remote.test(f"pg_isready -q -h 127.0.0.1 -p {port}", step="db")
        status.check(
            "db", ok, f"PostgreSQL on port {port} {'accepts connections' if ok else 'does not answer'}"
        )
    if "redis" in host.roles:
        port = host.services["redis_port"]
        pong = remote.run(f"redis-cli -h 127.0.0.1 -p {port} ping", step="redis", check=False).strip()
        status.check("redis", pong == "PONG", f"Redis on port {port}: {pong or 'no answer'}")
    for role, port_name, server, answer in (
        ("cache", "memcached_port", "memcached", "VERSION"),
        ("gearman", "gearman_port", "gearmand", "OK"),
    ):
        if role in host.roles:
            port = host.services[port_name]
            version = remote.run(f"{py} -c {q(VERSION_CHECK)} {port}", step=role, check=False).strip()
            detail = f"{server} on port {port}: {version or 'no answer'}"
            status.check(role, version.startswith(answer), detail)
    return status


@task
def status(c: Context) -> None:
    """Check every host of every role; exit 1 if anything is down."""
    _, hosts = targets(c, ROLES)
    results: dict[Host, HostStatus | BaseException] = {}

    def one(remote: Remote) -> HostStatus:
        return host_status(remote)

    try:
        results.update(on_hosts(hosts, one))
    except RolloutError as exc:
        results.update(exc.results)
        results.update(exc.failures)
    down: list[str] = []
    for host in hosts:
        result = results[host]
        print(f"{host} [{', '.join(host.roles)}]", flush=True)
        if isinstance(result, BaseException):
            print(f"  DOWN ssh        {result}", flush=True)
            down.append(host.name)
            continue
        for line in result.lines:
            print(f"  {line}", flush=True)
        down.extend(f"{host.name}:{name}" for name in result.down)
    if down:
        raise Exit(f"down: {', '.join(down)}", code=1)
    print("all hosts up", flush=True)


ns = Collection(deploy, rollback, setup, releases, status, restart, migrate, shards, backup, failover)
