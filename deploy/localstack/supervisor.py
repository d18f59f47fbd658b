"""The stack's supervisord: programs, their states and ports."""

from __future__ import annotations

import os
import socket
import subprocess
import time

from deploy.localstack.base import VENV, StackError, run
from deploy.localstack.profiles import Profile
from deploy.localstack.redis_sentinel import redis_programs_by_port


def supervisorctl(p: Profile, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    conf = p.var / "etc" / "supervisord.conf"
    return run([str(VENV / "bin" / "supervisorctl"), "-c", str(conf), *args], check=check)


def supervisord_running(p: Profile) -> bool:
    pidfile = p.var / "run" / "supervisord.pid"
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return supervisorctl(p, "pid", check=False).returncode == 0


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def all_ports(p: Profile) -> dict[str, int]:
    return {
        "nginx": p.nginx,
        "nginx (cdn)": p.cdn,
        "nginx (https)": p.nginx_tls,
        "nginx (cdn, https)": p.cdn_tls,
        "app-1": p.apps[0],
        "app-2": p.apps[1],
        "postgres-primary": p.pg_primary,
        "postgres-standby": p.pg_standby,
        "pgbouncer": p.pgbouncer,
        "pgbouncer-replica": p.pgbouncer_replica,
        **redis_programs_by_port(p),
        "memcached": p.memcached,
        "gearmand": p.gearmand,
        "s3": p.s3,
        "sandbox (apns)": p.sandbox_apns,
        "sandbox (twitter)": p.sandbox_twitter,
        "sandbox (facebook)": p.sandbox_facebook,
        "sandbox (sentry)": p.sandbox_sentry,
        "sandbox (pagerduty)": p.sandbox_pagerduty,
        "sandbox (smtp)": p.sandbox_smtp,
    }


def check_ports_free(ports: dict[str, int]) -> None:
    """Refuse to start when another process already holds one of our ports."""
    taken = [f"{name} (port {port})" for name, port in ports.items() if port_open(port)]
    if taken:
        raise StackError(
            "ports already in use by another process: "
            + ", ".join(taken)
            + " (stop that process, or the other stack with `make stop`)"
        )


def program_state(p: Profile, program: str) -> str:
    """Return supervisord's state of `program` (RUNNING, BACKOFF, FATAL, ...)."""
    output = supervisorctl(p, "status", program, check=False).stdout.split()
    return output[1] if len(output) > 1 else "UNKNOWN"


def start_program(p: Profile, program: str, *, port: int | None = None, timeout: float = 30) -> None:
    """Start one supervised program and wait until it accepts connections."""
    log = p.var / "log" / f"{program.split(':')[0]}.log"
    result = supervisorctl(p, "start", program, check=False)
    if result.returncode != 0 and "already started" not in result.stdout:
        raise StackError(f"{program} failed to start: {result.stdout.strip()}; read {log}")
    if port is None:
        return
    deadline = time.monotonic() + timeout
    checked = time.monotonic()
    while not port_open(port):
        if time.monotonic() > deadline:
            raise StackError(f"{program} did not listen on port {port} in {timeout:.0f}s; read {log}")
        if time.monotonic() - checked > 1:
            checked = time.monotonic()
            state = program_state(p, program)
            if state not in {"RUNNING", "STARTING"}:
                raise StackError(f"{program} exited ({state}) before listening on port {port}; read {log}")
        time.sleep(0.05)
