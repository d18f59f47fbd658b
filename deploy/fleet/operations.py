"""Management commands on the db and redis hosts (backups, failover), and every host's status."""

from __future__ import annotations

from dataclasses import dataclass, field

from deploy.fleet.inventory import RELEASE_ROLES, Host
from deploy.fleet.remote import Remote, RolloutError, fail, on_hosts, q, say
from deploy.fleet.rollout import release_state, runs_processes, supervisord_running


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
        # With a password (REDIS_URL's, which fab status does not hold) it answers NOAUTH: it is up.
        up = pong == "PONG" or pong.startswith("NOAUTH")
        status.check("redis", up, f"Redis on port {port}: {pong or 'no answer'}")
    if "sentinel" in host.roles:
        port = host.services["sentinel_port"]
        pong = remote.run(f"redis-cli -h 127.0.0.1 -p {port} ping", step="sentinel", check=False).strip()
        # With its password (REDIS_SENTINEL_PASSWORD) it answers NOAUTH: it is up.
        up = pong == "PONG" or pong.startswith("NOAUTH")
        status.check("sentinel", up, f"Redis Sentinel on port {port}: {pong or 'no answer'}")
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


def backup_commands(hosts: list[Host], *, list_only: bool) -> dict[Host, list[list[str]]]:
    """Return each host's backup commands: backup_postgres on db hosts, backup_redis on redis hosts."""
    flags = ["--list"] if list_only else []
    return {
        host: [
            [f"backup_{kind}", *flags]
            for role, kind in (("db", "postgres"), ("redis", "redis"))
            if role in host.roles
        ]
        for host in hosts
    }


def print_status(hosts: list[Host]) -> list[str]:
    """Check every host in parallel, print each one's checks; return what is down (host or host:check)."""
    results: dict[Host, HostStatus | BaseException] = {}
    try:
        results.update(on_hosts(hosts, host_status))
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
    return down
