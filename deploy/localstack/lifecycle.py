"""Bringing a whole stack up in dependency order, and down again."""

from __future__ import annotations

import shutil
import signal
import time
import urllib.error
import urllib.request

from deploy.localstack.base import VENV, StackError, run, say
from deploy.localstack.configs import environment, write_configs
from deploy.localstack.install import ensure_node_clients, ensure_packages, ensure_service_user, ensure_venv
from deploy.localstack.postgres import (
    DB_USER,
    PG_NODES,
    build_standby,
    create_databases,
    init_primary,
    pg_port,
    pg_roles,
    register_primary,
    register_standby,
    repmgrd_program,
    require_sync_standby,
    start_repmgrd,
    wait_pg_ready,
)
from deploy.localstack.profiles import Profile
from deploy.localstack.redis_sentinel import redis_programs_by_port
from deploy.localstack.supervisor import (
    all_ports,
    check_ports_free,
    start_program,
    supervisorctl,
    supervisord_running,
)


def manage(p: Profile, *args: str) -> None:
    env = environment(p)
    try:
        run([str(VENV / "bin" / "python"), "manage.py", *args], env=env)
    except StackError as exc:
        raise StackError(f"manage.py {' '.join(args)} failed:\n{exc}") from exc


def wait_healthy(p: Profile, timeout: float = 60) -> None:
    url = f"http://127.0.0.1:{p.nginx}/health"
    deadline = time.monotonic() + timeout
    body = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")
        except OSError as exc:
            body = str(exc)
        time.sleep(0.5)
    raise StackError(f"/health is not green after {timeout:.0f}s: {body}; read {p.var / 'log'}")


def up(p: Profile, *, fresh: bool) -> None:
    started = time.monotonic()
    ensure_packages()
    ensure_service_user()
    ensure_venv()
    if p.name.startswith("test"):
        ensure_node_clients()
    if fresh:
        down(p)
        shutil.rmtree(p.var, ignore_errors=True)
    changed = write_configs(p)
    if "supervisord.conf" in changed and supervisord_running(p):
        # Programs and their environment live in supervisord's own config.
        say("supervisord.conf changed: restarting the stack with it")
        down(p)
    if not supervisord_running(p):
        check_ports_free(all_ports(p))
        run([str(VENV / "bin" / "supervisord"), "-c", str(p.var / "etc" / "supervisord.conf")])
        deadline = time.monotonic() + 10
        while not supervisord_running(p):
            if time.monotonic() > deadline:
                raise StackError(f"supervisord did not start; read {p.var / 'log' / 'supervisord.log'}")
            time.sleep(0.1)
    else:
        supervisorctl(p, "update")

    # The object store first: PostgreSQL archives its WAL there from the start.
    start_program(p, "s3", port=p.s3)
    primary, standby = pg_roles(p)
    init_primary(p)
    start_program(p, primary, port=pg_port(p, primary))
    wait_pg_ready(p, pg_port(p, primary), primary)
    create_databases(p)
    register_primary(p)
    build_standby(p)
    start_program(p, standby, port=pg_port(p, standby))
    wait_pg_ready(p, pg_port(p, standby), standby)
    register_standby(p)
    for program, port in (
        ("pgbouncer", p.pgbouncer),
        ("pgbouncer-replica", p.pgbouncer_replica),
        *redis_programs_by_port(p).items(),
        ("memcached", p.memcached),
        ("gearmand", p.gearmand),
        ("sandbox", p.sandbox_pagerduty),  # opens its six ports, PagerDuty's last
    ):
        start_program(p, program, port=port)
    manage(p, "migrate", "--no-input", "-v", "0")
    manage(p, "create_shards")
    manage(p, "ensure_bucket")
    # The admin's CSS and the docs page's Redoc, served by WhiteNoise from STATIC_ROOT.
    manage(p, "collectstatic", "--no-input", "-v", "0")
    require_sync_standby(p)
    start_repmgrd(p)
    start_program(p, "app-1", port=p.apps[0])
    start_program(p, "app-2", port=p.apps[1])
    start_program(p, "worker:*")
    start_program(p, "nginx", port=p.nginx)
    wait_healthy(p)
    say(f"{p.name} stack is up in {time.monotonic() - started:.1f}s")


def down(p: Profile) -> None:
    """Stop every process of this stack (data stays in var/<profile>)."""
    if not supervisord_running(p):
        return
    say(f"stopping the {p.name} stack")
    # nginx and the app first, so nothing serves from a half-stopped stack.
    supervisorctl(p, "stop", "nginx", "app-1", "app-2", "worker:*", check=False)
    # repmgrd before PostgreSQL: a primary stopping is no failure to fail over from.
    supervisorctl(p, "stop", *(repmgrd_program(node) for node in PG_NODES), check=False)
    supervisorctl(p, "shutdown", check=False)
    pidfile = p.var / "run" / "supervisord.pid"
    deadline = time.monotonic() + 60
    while pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def summary(p: Profile) -> str:
    return "\n".join(
        [
            f"API (through nginx):     http://localhost:{p.nginx}/v1/   health: http://localhost:{p.nginx}/health",
            f"CDN (nginx proxy_cache): http://localhost:{p.cdn}/<object key>",
            f"HTTPS, HTTP/2:           https://localhost:{p.nginx_tls}/v1/ and https://localhost:{p.cdn_tls}/"
            f" (curl --cacert {p.var / 'tls' / 'ca.pem'})",
            f"PostgreSQL via pgbouncer: psql -h 127.0.0.1 -p {p.pgbouncer} -U {DB_USER} main",
            f"Logs: {p.var / 'log'}    Processes: make ctl ARGS=status",
        ]
    )


def foreground(p: Profile) -> None:
    print(summary(p), flush=True)
    say("serving; press Ctrl-C to stop everything")
    stop = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    while not stop and supervisord_running(p):
        time.sleep(0.5)
    down(p)
