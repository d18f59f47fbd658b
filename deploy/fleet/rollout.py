"""Releases: build one, prepare every host, migrate once, switch, reload, prune; roll back."""

from __future__ import annotations

import getpass
import hashlib
import io
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from invoke.exceptions import Exit

from deploy.fleet.inventory import ROOT, Host
from deploy.fleet.remote import HostError, Remote, RolloutError, fail, on_hosts, q, say, tail
from deploy.localstack.templates import render

VAR = ROOT / "var"
HOST_TEMPLATES = ROOT / "deploy" / "hosts"


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
# A new fleet's empty shard map gets its logical shards first (create_shards).
MIGRATE = (
    "import django; django.setup(); from django.core.management import call_command;"
    " call_command('migrate', interactive=False); from sharding.models import Shard;"
    " Shard.objects.using('default').exists() or call_command('create_shards');"
    " call_command('migrate_shards')"
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


def roll_back(hosts: Sequence[Host], release: str) -> str:
    """Switch every host to `release` (default: the one before the current release), reload; return it."""
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
    return release


def restart_host(remote: Remote, *, full: bool) -> None:
    """Make the host's processes run its current release again (activate), reloading gracefully."""
    _, current = release_state(remote)
    if current is None:
        raise HostError("restart: nothing deployed yet (fab deploy)")
    revision = remote.run(f"cat {q(remote.host.path('current', 'REVISION'))}", step="revision").strip()
    activate(remote, revision, full=full)
