#!/usr/bin/env python3
"""Install, initialize, start and stop the local Instagram stack.

This is what `make run`, `make test` and `make stop` call. It needs nothing
but the Python standard library, because it runs before the virtualenv exists:

    python3 deploy/stack.py up   --profile dev  --foreground   # make run
    python3 deploy/stack.py up   --profile test --fresh        # make test
    python3 deploy/stack.py down --profile dev                 # make stop
    python3 deploy/stack.py ctl  --profile test status         # supervisorctl

Every server runs under one supervisord per profile, with its configuration
rendered from deploy/ into var/<profile>/etc and its data in
var/<profile>/data, so the dev and test stacks never share a port or a file.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
VENV = ROOT / ".venv"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SERVICE_USER = "instagram"
# Debian's Python: what the service user runs repmgr's event hook and the
# pgbouncer re-render with (the virtualenv's interpreter may be root's own).
SYSTEM_PYTHON = "/usr/bin/python3"

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


@dataclasses.dataclass(frozen=True)
class Profile:
    """Ports of one stack; dev and test differ in every one of them."""

    name: str
    nginx: int
    cdn: int
    # nginx's HTTPS (HTTP/2) ports for the API and the CDN, beside the HTTP ones.
    nginx_tls: int
    cdn_tls: int
    apps: tuple[int, int]
    pg_primary: int
    pg_standby: int
    pgbouncer: int
    pgbouncer_replica: int
    redis_primary: int
    redis_replica: int
    # Feed shards (feeds, news, the photo map): a primary and a replica each.
    redis_feeds: tuple[int, ...]
    redis_feed_replicas: tuple[int, ...]
    # Three Sentinels watching every Redis primary (a majority of 2 promotes).
    redis_sentinels: tuple[int, int, int]
    memcached: int
    gearmand: int
    s3: int
    # Local stand-ins for the services this machine cannot reach (sandboxes/):
    # APNS over HTTP/2 with TLS, and the Twitter and Facebook APIs.
    sandbox_apns: int
    sandbox_twitter: int
    sandbox_facebook: int
    # Sentry's ingest API and PagerDuty's Events API v2, played locally too.
    sandbox_sentry: int
    sandbox_pagerduty: int
    # An SMTP server that records the mail it receives (password resets).
    sandbox_smtp: int
    workers: int = 2
    # Followers above which a post is not fanned out (merged in at read time).
    fanout_max_followers: int = 100_000
    # Followers per fan-out job: a bigger list is spread over several jobs.
    fanout_chunk: int = 2_000
    # First retry delay of a failed job, doubling each attempt.
    job_retry_seconds: float = 2.0
    logical_shards: int = 256
    # Default hourly limits per caller (requests, writes). The test stack
    # signs up thousands of accounts from one address, so it lifts them;
    # its rate-limit tests give their client its own low limits.
    rate_limits: tuple[int, int] = (5000, 500)
    # Failed credential checks per window: by address, by account, by app and address.
    credential_limits: tuple[int, int, int] = (100, 10, 20)

    @property
    def var(self) -> Path:
        return ROOT / "var" / self.name


PROFILES = {
    "dev": Profile(
        name="dev",
        nginx=8000,
        cdn=8001,
        nginx_tls=8443,
        cdn_tls=8444,
        apps=(8101, 8102),
        pg_primary=15432,
        pg_standby=15433,
        pgbouncer=16432,
        pgbouncer_replica=16433,
        redis_primary=16379,
        redis_replica=16380,
        redis_feeds=(16361, 16362),
        redis_feed_replicas=(16363, 16364),
        redis_sentinels=(16365, 16366, 16367),
        memcached=11311,
        gearmand=14730,
        s3=19000,
        sandbox_apns=14443,
        sandbox_twitter=14801,
        sandbox_facebook=14802,
        sandbox_sentry=14803,
        sandbox_pagerduty=14804,
        sandbox_smtp=14825,
    ),
    "test": Profile(
        name="test",
        nginx=28000,
        cdn=28001,
        nginx_tls=28443,
        cdn_tls=28444,
        apps=(28101, 28102),
        pg_primary=25432,
        pg_standby=25433,
        pgbouncer=26432,
        pgbouncer_replica=26433,
        redis_primary=26379,
        redis_replica=26380,
        redis_feeds=(26361, 26362),
        redis_feed_replicas=(26363, 26364),
        redis_sentinels=(26365, 26366, 26367),
        memcached=21311,
        gearmand=24730,
        s3=29000,
        sandbox_apns=24443,
        sandbox_twitter=24801,
        sandbox_facebook=24802,
        sandbox_sentry=24803,
        sandbox_pagerduty=24804,
        sandbox_smtp=24825,
        logical_shards=64,
        # Small enough that tests reach the celebrity path and split fan-outs.
        fanout_max_followers=25,
        fanout_chunk=4,
        job_retry_seconds=0.2,
        rate_limits=(1_000_000, 1_000_000),
        # The suite fails some log-ins from one address (the fuzz too): a
        # roomy address limit, and small per-account and per-app ones to test.
        credential_limits=(400, 5, 5),
    ),
}

PORT_FIELDS = tuple(
    field.name
    for field in dataclasses.fields(Profile)
    if field.name
    in {
        "nginx",
        "cdn",
        "nginx_tls",
        "cdn_tls",
        "apps",
        "pg_primary",
        "pg_standby",
        "redis_primary",
        "redis_replica",
        "redis_feeds",
        "redis_feed_replicas",
        "redis_sentinels",
    }
    or field.name.startswith(("pgbouncer", "memcached", "gearmand", "s3", "sandbox_"))
)


def shifted(base: Profile, name: str, offset: int) -> Profile:
    """Return `base` under another name with every port moved by `offset`."""
    ports: dict[str, object] = {}
    for field in PORT_FIELDS:
        value = getattr(base, field)
        ports[field] = tuple(port + offset for port in value) if isinstance(value, tuple) else value + offset
    return dataclasses.replace(base, name=name, **ports)  # type: ignore[arg-type]


# More test stacks beside the first, for a second checkout (or a second
# developer on one machine) running the suite at the same time.
for _index, _suffix in enumerate("abcdef", start=1):
    PROFILES[f"test-{_suffix}"] = shifted(PROFILES["test"], f"test-{_suffix}", 10 * _index)

DB_USER = "instagram"
DB_PASSWORD = "instagram"  # local stacks only; production sets DB_PASSWORD
REPLICATION_USER = "replicator"
MAIN_DB = "instagram_main"
SHARD_DBS = ("instagram_shard0", "instagram_shard1")
BUCKET = "instagram-media"
# Base backups, archived WAL and Redis dumps: never in the media bucket, which
# the CDN serves to anyone.
BACKUP_BUCKET = "instagram-backups"
# The two PostgreSQL nodes, by supervisord program. Each keeps its name, port
# and data folder for good; which one is the primary now is written in
# var/<profile>/postgres-primary by a failover (ops/postgres.py), absent = the first.
PG_NODES = ("postgres-primary", "postgres-standby")
# The standby's application_name and slot, whichever node it is; commits wait
# for it (synchronous replication) once it streams.
# (The name of a standby set up without repmgr, in the topology file;
# repmgr's standby streams under its node's name, whichever node it is.)
STANDBY_NAME = "standby1"
SYNC_STANDBY_NAMES = "ANY 1 ({})".format(", ".join(f'"{node}"' for node in PG_NODES))


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


# ---------------------------------------------------------------- installing


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


# ---------------------------------------------------------------- configuring


def environment(p: Profile) -> dict[str, str]:
    """Return the 12-factor settings the app and workers of this stack read."""
    return {
        "IG_ENVIRONMENT": p.name,
        "IG_TOPOLOGY": str(p.var / "etc" / "topology.toml"),
        "DJANGO_SETTINGS_MODULE": "instagram.settings",
        "DJANGO_SECRET_KEY": f"local-{p.name}-only-secret-key-not-for-production-use",
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
        "PUBLIC_BASE_URL": f"http://localhost:{p.nginx}",
        "PUBLIC_TLS_BASE_URL": f"https://localhost:{p.nginx_tls}",
        "LOG_FORMAT": "text",
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(p.pgbouncer),
        "DB_USER": DB_USER,
        "DB_PASSWORD": DB_PASSWORD,
        "DB_MAIN": "main",
        "DB_SHARDS": "shard0,shard1",
        "LOGICAL_SHARDS": str(p.logical_shards),
        "RATE_LIMIT_REQUESTS_PER_HOUR": str(p.rate_limits[0]),
        "RATE_LIMIT_WRITES_PER_HOUR": str(p.rate_limits[1]),
        "CREDENTIAL_FAILURES_PER_ADDRESS": str(p.credential_limits[0]),
        "CREDENTIAL_FAILURES_PER_ACCOUNT": str(p.credential_limits[1]),
        "CREDENTIAL_FAILURES_PER_CLIENT": str(p.credential_limits[2]),
        "DB_REPLICA_HOST": "127.0.0.1",
        "DB_REPLICA_PORT": str(p.pgbouncer_replica),
        "REDIS_URL": f"redis://127.0.0.1:{p.redis_primary}/0",
        "REDIS_REPLICA_URL": f"redis://127.0.0.1:{p.redis_replica}/0",
        "REDIS_FEED_URLS": ",".join(f"redis://127.0.0.1:{port}/0" for port in p.redis_feeds),
        "REDIS_FEED_REPLICA_URLS": ",".join(f"redis://127.0.0.1:{port}/0" for port in p.redis_feed_replicas),
        "REDIS_SENTINELS": ",".join(f"127.0.0.1:{port}" for port in p.redis_sentinels),
        "MEMCACHED_SERVERS": f"127.0.0.1:{p.memcached}",
        "GEARMAN_SERVERS": f"127.0.0.1:{p.gearmand}",
        "S3_ENDPOINT_URL": f"http://127.0.0.1:{p.s3}",
        "S3_BUCKET": BUCKET,
        "S3_REGION": "us-east-1",
        "BACKUP_BUCKET": BACKUP_BUCKET,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "CDN_URL": f"http://localhost:{p.cdn}",
        "CDN_PURGE_URL": f"http://127.0.0.1:{p.cdn}",
        "FEED_FANOUT_MAX_FOLLOWERS": str(p.fanout_max_followers),
        "FEED_FANOUT_CHUNK": str(p.fanout_chunk),
        "JOB_RETRY_SECONDS": str(p.job_retry_seconds),
        "FIELD_ENCRYPTION_KEYS": f"local-{p.name}-only-encryption-key-not-for-production-use",
        # Subscription callbacks on 127.0.0.1 (the API refuses private addresses in production).
        "SUBSCRIPTION_CALLBACKS_ALLOW_PRIVATE": "1",
        "APNS_HOST": "127.0.0.1",
        "APNS_PORT": str(p.sandbox_apns),
        "APNS_CA_FILE": str(p.var / "sandbox" / "ca.pem"),
        "APNS_KEY_FILE": str(p.var / "sandbox" / "apns-auth-key.p8"),
        "APNS_KEY_ID": "SANDBOXKEY",
        "APNS_TEAM_ID": "SANDBOXTEAM",
        "APNS_TOPIC": "com.burbn.instagram",
        "TWITTER_API_URL": f"http://127.0.0.1:{p.sandbox_twitter}",
        "FACEBOOK_API_URL": f"http://127.0.0.1:{p.sandbox_facebook}",
        # Error reports and alerts go to the Sentry and PagerDuty sandboxes.
        "SENTRY_DSN": f"http://localsentrykey@127.0.0.1:{p.sandbox_sentry}/1",
        "PAGERDUTY_EVENTS_URL": f"http://127.0.0.1:{p.sandbox_pagerduty}/v2/enqueue",
        "PAGERDUTY_ROUTING_KEY": f"local-{p.name}-routing-key",
        # Mail (password resets) goes to the SMTP sandbox, which records it.
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(p.sandbox_smtp),
    }


def geo_allow(networks: list[str]) -> str:
    """Return the lines of an nginx `geo` block that map each of `networks` to 1."""
    return "\n".join(f"        {network} 1;" for network in networks)


def upstream_servers(addresses: list[str]) -> str:
    """Return the `server` lines of nginx's `app` upstream: every app server, passively checked."""
    return "\n".join(f"        server {address} max_fails=1 fail_timeout=10s;" for address in addresses)


def render(template: str, values: dict[str, object]) -> str:
    """Fill `{{name}}` placeholders; nginx's own `$vars` pass through untouched."""

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise StackError(f"template placeholder {{{{{key}}}}} has no value")
        return str(values[key])

    return re.sub(r"\{\{(\w+)\}\}", fill, template)


def template_values(p: Profile) -> dict[str, object]:
    var = p.var
    return {
        "root": ROOT,
        "var": var,
        "etc": var / "etc",
        "log": var / "log",
        "run": var / "run",
        "data": var / "data",
        "venv": VENV,
        "pg_bin": PG_BIN,
        "service_user": SERVICE_USER,
        "nginx_user": SERVICE_USER if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name,
        "listen_host": "127.0.0.1",
        "status_allow": "127.0.0.1",
        "cdn_purge_allow": geo_allow(["127.0.0.1/32", "::1/128"]),
        "app_servers": upstream_servers([f"127.0.0.1:{port}" for port in p.apps]),
        "s3_addr": f"127.0.0.1:{p.s3}",
        "pg_primary_host": "127.0.0.1",
        "pg_standby_host": "127.0.0.1",
        "nginx_port": p.nginx,
        "cdn_port": p.cdn,
        "nginx_tls_port": p.nginx_tls,
        "cdn_tls_port": p.cdn_tls,
        # Written by ensure_tls (deploy/tls.py); production renders its own paths.
        "tls_certificate": p.var / "tls" / "server.pem",
        "tls_certificate_key": p.var / "tls" / "server.key",
        "app1_port": p.apps[0],
        "app2_port": p.apps[1],
        # Where pgbouncer sends the primary's and the standby's names: the
        # nodes' roles, which a failover swaps.
        "pg_primary_port": pg_port(p, pg_roles(p)[0]),
        "pg_standby_port": pg_port(p, pg_roles(p)[1]),
        # The port in postgresql.conf, set for each node by write_configs.
        "pg_node_port": p.pg_primary,
        "pgbouncer_port": p.pgbouncer,
        "query_wait_timeout": 30,
        # Other names reach the primary's database of that name (scratch
        # databases of benchmarks and tools); the standby's instance has none.
        "fallback_database": f"* = host=127.0.0.1 port={pg_port(p, pg_roles(p)[0])}",
        "redis_primary_port": p.redis_primary,
        "redis_replica_port": p.redis_replica,
        "redis_primary_dir": "redis-primary",
        "redis_replica_dir": "redis-replica",
        "redis_programs": redis_programs(p),
        # deploy/redis/sentinel.conf, for the first Sentinel (write_sentinel_configs sets each one's).
        "sentinel_port": p.redis_sentinels[0],
        "sentinel_dir": "redis-sentinel-1",
        "monitors": sentinel_monitors(p),
        "memcached_port": p.memcached,
        "gearmand_port": p.gearmand,
        "s3_port": p.s3,
        "sandbox_apns_port": p.sandbox_apns,
        "sandbox_twitter_port": p.sandbox_twitter,
        "sandbox_facebook_port": p.sandbox_facebook,
        "sandbox_sentry_port": p.sandbox_sentry,
        "sandbox_pagerduty_port": p.sandbox_pagerduty,
        "sandbox_smtp_port": p.sandbox_smtp,
        "bucket": BUCKET,
        "backup_bucket": BACKUP_BUCKET,
        "workers": p.workers,
        "db_user": DB_USER,
        "db_password": DB_PASSWORD,
        "main_db": MAIN_DB,
        "shard0_db": SHARD_DBS[0],
        "shard1_db": SHARD_DBS[1],
        # repmgr.conf's values for the first node; write_configs renders one per node.
        **repmgr_node_values(p, PG_NODES[0]),
        "supervisor_env": ",".join(f'{key}="{value}"' for key, value in environment(p).items()),
    }


@dataclasses.dataclass(frozen=True)
class RedisInstance:
    """One Redis primary and its replica: the supervisord programs, ports and Sentinel name."""

    name: str
    program: str
    port: int
    replica_program: str
    replica_port: int


def redis_instances(p: Profile) -> list[RedisInstance]:
    """Return the main instance, then each feed shard (instagram/redis_client.py)."""
    feeds = [
        RedisInstance(f"feed-{i}", f"redis-feed-{i}", port, f"redis-feed-{i}-replica", replica)
        for i, (port, replica) in enumerate(zip(p.redis_feeds, p.redis_feed_replicas, strict=True))
    ]
    return [RedisInstance("main", "redis-primary", p.redis_primary, "redis-replica", p.redis_replica), *feeds]


def redis_programs_by_port(p: Profile) -> dict[str, int]:
    """Return every Redis and Sentinel program of the stack with its port, in start order."""
    programs: dict[str, int] = {}
    for instance in redis_instances(p):
        programs[instance.program] = instance.port
        programs[instance.replica_program] = instance.replica_port
    for index, port in enumerate(p.redis_sentinels, start=1):
        programs[f"redis-sentinel-{index}"] = port
    return programs


def redis_programs(p: Profile) -> str:
    """Return the supervisord sections of the feed shards and the Sentinels (main's are in the template).

    No autorestart for the feed shards: a primary that crashed must not come
    back as a stale primary (its last snapshot) before Sentinel has promoted
    its replica; `stack.py up` (or an operator) starts it again and Sentinel
    makes it a replica. Sentinels restart on their own.
    """
    sections = []
    for program in redis_programs_by_port(p):
        if program in {"redis-primary", "redis-replica"}:
            continue
        sentinel = "sentinel" in program
        binary, conf = "/usr/bin/redis-server", p.var / "etc" / f"{program}.conf"
        if sentinel:
            binary, conf = "/usr/bin/redis-sentinel", sentinel_conf(p, program)
        sections.append(
            f"[program:{program}]\ncommand = {binary} {conf}\n"
            f"user = {SERVICE_USER}\nautostart = false\nstartsecs = 0\n"
            f"autorestart = {str(sentinel).lower()}\n"
            f"redirect_stderr = true\nstdout_logfile = {p.var / 'log' / program}.log\n"
        )
    return "\n".join(sections)


# How long a primary may be silent before the Sentinels call it down and
# promote its replica: the heart of the failover bound (docs/failover-and-backups.md).
# The feed shards' primaries are not restarted by supervisord: 2 s. The main
# one is (a crashed process is back in about a second, from its last
# snapshot), so Sentinel only steps in when it stays gone: 30 s, a lost host
# rather than a restart.
SENTINEL_DOWN_AFTER_MS = 2000
SENTINEL_DOWN_AFTER_MS_MAIN = 30_000
SENTINEL_FAILOVER_TIMEOUT_MS = 10_000


def write_sentinel_configs(p: Profile, values: dict[str, object]) -> None:
    """Write each Sentinel's file once: from then on Sentinel owns it (it records roles and peers there).

    In the Sentinel's own data folder: it rewrites the file through a
    temporary one beside it, so the folder must be the service user's.
    """
    monitors = sentinel_monitors(p)
    for index, port in enumerate(p.redis_sentinels, start=1):
        program = f"redis-sentinel-{index}"
        path = sentinel_conf(p, program)
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        sentinel_values = {**values, "sentinel_port": port, "sentinel_dir": program, "monitors": monitors}
        path.write_text(render((DEPLOY / "redis" / "sentinel.conf").read_text(), sentinel_values))
        if os.geteuid() == 0:
            for owned in (path.parent, path):
                shutil.chown(owned, SERVICE_USER, SERVICE_USER)


def sentinel_monitors(p: Profile) -> str:
    """Return the `sentinel monitor` lines for every Redis primary of the stack."""
    return "".join(
        f"sentinel monitor {i.name} 127.0.0.1 {i.port} 2\n"
        f"sentinel down-after-milliseconds {i.name} "
        f"{SENTINEL_DOWN_AFTER_MS_MAIN if i.name == 'main' else SENTINEL_DOWN_AFTER_MS}\n"
        f"sentinel failover-timeout {i.name} {SENTINEL_FAILOVER_TIMEOUT_MS}\n"
        f"sentinel parallel-syncs {i.name} 1\n"
        for i in redis_instances(p)
    )


def sentinel_conf(p: Profile, program: str) -> Path:
    return p.var / "data" / program / "sentinel.conf"


def write_configs(p: Profile) -> list[str]:
    """Render every file under deploy/ that the stack runs with into var/<profile>/etc.

    Returns the names of the files whose content changed.
    """
    values = template_values(p)
    for sub in ("etc", "log", "run", "data", "nginx"):
        (p.var / sub).mkdir(parents=True, exist_ok=True)
    ensure_tls(p)
    files = {
        "supervisord.conf": "supervisor/supervisord.conf",
        "pg_hba.conf": "postgresql/pg_hba.conf",
        "pgbouncer.ini": "pgbouncer/pgbouncer.ini",
        "pgbouncer-users.txt": "pgbouncer/userlist.txt",
        "nginx.conf": "nginx/nginx.conf",
    }
    changed: list[str] = []
    renders = [(target, source, values) for target, source in files.items()]
    # The standby's own pgbouncer: a client waits 2 s at most for a standby
    # connection, then falls back to the primary (sharding.routing).
    replica_values = {
        **values,
        "pgbouncer_port": p.pgbouncer_replica,
        "query_wait_timeout": 2,
        "fallback_database": "",
    }
    renders.append(("pgbouncer-replica.ini", "pgbouncer/pgbouncer.ini", replica_values))
    for instance in redis_instances(p):
        redis_values = {
            **values,
            "redis_primary_port": instance.port,
            "redis_replica_port": instance.replica_port,
            "redis_primary_dir": instance.program,
            "redis_replica_dir": instance.replica_program,
        }
        renders.append((f"{instance.program}.conf", "redis/primary.conf", redis_values))
        renders.append((f"{instance.replica_program}.conf", "redis/replica.conf", redis_values))
    # Either node may be the primary or the standby: one file, its own port.
    for node in PG_NODES:
        node_values = {**values, "pg_node_port": pg_port(p, node)}
        renders.append(
            (f"{node.replace('postgres', 'postgresql')}.conf", "postgresql/postgresql.conf", node_values)
        )
    renders += repmgr_renders(p, values)
    for target, source, template_vars in renders:
        text = render((DEPLOY / source).read_text(), template_vars)
        path = p.var / "etc" / target
        if not path.exists() or path.read_text() != text:
            changed.append(target)
            path.write_text(text)
    if os.geteuid() == 0:
        (p.var / "etc" / "pgbouncer-users.txt").chmod(0o600)
    write_sentinel_configs(p, values)
    write_topology(p)
    env_lines = [f"{key}={value}" for key, value in environment(p).items()]
    write_if_changed(p.var / "env", "\n".join(env_lines) + "\n")
    for sub in (*redis_programs_by_port(p), "gearmand"):
        (p.var / "data" / sub).mkdir(exist_ok=True)
    if os.geteuid() == 0:
        owned = [p.var / "data", p.var / "run", p.var / "nginx", p.var / "etc" / "pgbouncer-users.txt"]
        for path in owned:
            shutil.chown(path, SERVICE_USER, SERVICE_USER)
        for sub in (*redis_programs_by_port(p), "gearmand"):
            shutil.chown(p.var / "data" / sub, SERVICE_USER, SERVICE_USER)
        repmgr_hook_writable(p)
    return changed


def write_if_changed(path: Path, text: str) -> None:
    # The repmgr event hook runs `configs` as the service user: it rewrites
    # only what a failover changes (repmgr_hook_writable).
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def repmgr_conf(node: str) -> str:
    """Return the name of `node`'s repmgr.conf in var/<profile>/etc."""
    return f"repmgr-{node.removeprefix('postgres-')}.conf"


def repmgrd_program(node: str) -> str:
    return f"repmgrd-{node.removeprefix('postgres-')}"


def repmgr_node_values(p: Profile, node: str) -> dict[str, object]:
    """repmgr.conf's values for `node`: its repmgr node id is its place in PG_NODES."""
    return {
        "repmgr_node_id": PG_NODES.index(node) + 1,
        "repmgr_node_name": node,
        "repmgr_conf": repmgr_conf(node),
        "repmgrd_program": repmgrd_program(node),
        "system_python": SYSTEM_PYTHON,
        # The unix socket: trusted, so repmgr needs no password file.
        "pg_node_host": p.var / "run",
        "pg_node_data": pg_datadir(p, node),
        "replication_user": REPLICATION_USER,
    }


def repmgr_renders(p: Profile, values: dict[str, object]) -> list[tuple[str, str, dict[str, object]]]:
    """One repmgr.conf per PostgreSQL node."""
    return [
        (
            repmgr_conf(node),
            "postgresql/repmgr.conf",
            {**values, **repmgr_node_values(p, node), "pg_node_port": pg_port(p, node)},
        )
        for node in PG_NODES
    ]


def repmgr_hook_writable(p: Profile) -> None:
    """Let repmgrd's event hook (the service user) record a new primary and re-render pgbouncer's files."""
    primary_file = p.var / "postgres-primary"
    if not primary_file.exists():
        primary_file.write_text(f"{pg_roles(p)[0]}\n")
    for path in (primary_file, p.var / "etc" / "pgbouncer.ini", p.var / "etc" / "pgbouncer-replica.ini"):
        shutil.chown(path, SERVICE_USER, SERVICE_USER)


def ensure_tls(p: Profile) -> None:
    """Give nginx a certificate from the stack's own CA (var/<profile>/tls), unless it has one.

    In the virtualenv: deploy/tls.py needs the `cryptography` package.
    """
    if not os.access(VENV / "bin" / "python", os.X_OK) and (p.var / "tls" / "server.pem").exists():
        return  # the service user re-rendering pgbouncer (repmgr's hook) may not run root's venv
    subprocess.run(
        [str(VENV / "bin" / "python"), "-m", "deploy.tls", str(p.var / "tls")], cwd=ROOT, check=True
    )


COMPOSE_DIR = DEPLOY / "docker"
# Files docker-compose.yml mounts, rendered from the same templates as the
# native stack so the two topologies cannot drift apart.
COMPOSE_FILES = {
    "nginx.conf": "nginx/nginx.conf",
    "pgbouncer.ini": "pgbouncer/pgbouncer.ini",
    "userlist.txt": "pgbouncer/userlist.txt",
}


def compose_values() -> dict[str, object]:
    """Return template values for the docker-compose topology (service names as hosts)."""
    values = template_values(PROFILES["dev"])
    values.update(
        {
            "nginx_user": "nginx",
            "var": "/var/cache/instagram",
            "log": "/var/log/nginx",
            "run": "/var/run",
            "etc": "/etc/pgbouncer",
            "listen_host": "0.0.0.0",  # noqa: S104 (inside its container)
            "status_allow": "172.16.0.0/12",
            # The app containers, on compose's default network.
            "cdn_purge_allow": geo_allow(["127.0.0.1/32", "172.16.0.0/12"]),
            "app_servers": upstream_servers(["app1:8000", "app2:8000"]),
            "s3_addr": "minio:9000",
            "nginx_port": 8000,
            "cdn_port": 8001,
            "nginx_tls_port": 8443,
            "cdn_tls_port": 8444,
            # The `tls` service writes them into the volume nginx mounts there.
            "tls_certificate": "/etc/nginx/tls/server.pem",
            "tls_certificate_key": "/etc/nginx/tls/server.key",
            "pg_primary_host": "postgres",
            "pg_primary_port": 5432,
            "pg_standby_host": "postgres-standby",
            "pg_standby_port": 5432,
            "pgbouncer_port": 6432,
            "query_wait_timeout": 30,
            "fallback_database": "",
        }
    )
    return values


def render_compose_files() -> dict[str, str]:
    values = compose_values()
    files = {
        target: render((DEPLOY / source).read_text(), values) for target, source in COMPOSE_FILES.items()
    }
    replica_values = {**values, "query_wait_timeout": 2, "fallback_database": ""}
    files["pgbouncer-replica.ini"] = render((DEPLOY / "pgbouncer/pgbouncer.ini").read_text(), replica_values)
    return files


def write_compose_files() -> None:
    for name, text in render_compose_files().items():
        (COMPOSE_DIR / name).write_text(text)
        say(f"wrote {(COMPOSE_DIR / name).relative_to(ROOT)}")


# ---------------------------------------------------------------- supervising


def topology_toml(p: Profile) -> str:
    """Return the topology file the ops commands read for this stack (ops/topology.py)."""
    nodes = "".join(
        f'\n[[postgres.nodes]]\nname = "{node}"\nhost = "127.0.0.1"\nport = {pg_port(p, node)}\n'
        f'data = "{pg_datadir(p, node)}"\nrepmgr_conf = "{p.var / "etc" / repmgr_conf(node)}"\n'
        f'repmgrd = "{repmgrd_program(node)}"\n'
        for node in PG_NODES
    )
    reconfigure = [SYSTEM_PYTHON, str(DEPLOY / "stack.py"), "configs", "--profile", p.name]
    redis_nodes = "".join(
        f'\n[[redis.instances]]\nname = "{i.name}"\nservice = "{i.program}"\nhost = "127.0.0.1"\n'
        f'port = {i.port}\nreplica_service = "{i.replica_program}"\nreplica_port = {i.replica_port}\n'
        for i in redis_instances(p)
    )
    return (
        f"# Written by deploy/stack.py for the stack {p.name}; read by ops/topology.py.\n"
        f'[host]\nservice_manager = "supervisorctl"\nsupervisorctl = "{VENV / "bin" / "supervisorctl"}"\n'
        f'supervisor_conf = "{p.var / "etc" / "supervisord.conf"}"\nservice_user = "{SERVICE_USER}"\n\n'
        f'[postgres]\nbin = "{PG_BIN}"\nsocket_dir = "{p.var / "run"}"\n'
        f'primary_file = "{p.var / "postgres-primary"}"\nreplication_user = "{REPLICATION_USER}"\n'
        f'standby_name = "{STANDBY_NAME}"\ndatabase = "{MAIN_DB}"\ndb_user = "{DB_USER}"\n'
        f"pgbouncer_reconfigure = {json.dumps(reconfigure)}\n{nodes}\n"
        f'[redis]\nservice = "redis-primary"\nport = {p.redis_primary}\n'
        f"sentinels = {json.dumps([f'127.0.0.1:{port}' for port in p.redis_sentinels])}\n{redis_nodes}"
    )


def write_topology(p: Profile) -> None:
    write_if_changed(p.var / "etc" / "topology.toml", topology_toml(p))


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


def psql(p: Profile, sql: str, *, db: str = "postgres") -> str:
    return run(
        [
            "psql",
            "-h",
            str(p.var / "run"),
            "-p",
            str(pg_port(p, pg_roles(p)[0])),
            "-U",
            "postgres",
            "-d",
            db,
            "-v",
            "ON_ERROR_STOP=1",
            "-Atqc",
            sql,
        ],
        user=SERVICE_USER,
    ).stdout.strip()


def pg_roles(p: Profile) -> tuple[str, str]:
    """Return the (primary, standby) PostgreSQL nodes, by supervisord program."""
    state = p.var / "postgres-primary"
    primary = state.read_text().strip() if state.exists() else PG_NODES[0]
    if primary not in PG_NODES:
        raise StackError(f"{state} names {primary!r}, not one of {', '.join(PG_NODES)}")
    return primary, next(node for node in PG_NODES if node != primary)


def pg_port(p: Profile, node: str) -> int:
    return p.pg_primary if node == PG_NODES[0] else p.pg_standby


def pg_datadir(p: Profile, node: str) -> Path:
    return p.var / "data" / ("pg-primary" if node == PG_NODES[0] else "pg-standby")


def init_primary(p: Profile) -> None:
    datadir = pg_datadir(p, pg_roles(p)[0])
    if (datadir / "PG_VERSION").exists():
        return
    say("initializing the PostgreSQL primary")
    run(
        [
            str(PG_BIN / "initdb"),
            "-D",
            str(datadir),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ],
        user=SERVICE_USER,
    )


def create_databases(p: Profile) -> None:
    """Create the roles and the main and shard databases once; later runs skip it."""
    roles = psql(p, "SELECT string_agg(rolname, ',') FROM pg_roles").split(",")
    if DB_USER not in roles:
        psql(p, f"CREATE ROLE {DB_USER} LOGIN PASSWORD '{DB_PASSWORD}'")
    if REPLICATION_USER not in roles:
        psql(p, f"CREATE ROLE {REPLICATION_USER} REPLICATION LOGIN PASSWORD '{DB_PASSWORD}'")
    existing = psql(p, "SELECT string_agg(datname, ',') FROM pg_database").split(",")
    for name in (MAIN_DB, *SHARD_DBS):
        if name not in existing:
            say(f"creating database {name}")
            psql(p, f"CREATE DATABASE {name} OWNER {DB_USER}")
            # Fixed per database, so Django never needs a session-level SET
            # that would leak through pgbouncer's transaction pooling.
            psql(p, f"ALTER DATABASE {name} SET timezone TO 'UTC'")


def repmgr(p: Profile, node: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `repmgr -f <node's repmgr.conf> args...` as the service user."""
    conf = p.var / "etc" / repmgr_conf(node)
    return run([str(PG_BIN / "repmgr"), "-f", str(conf), *args], user=SERVICE_USER, check=check)


def register_primary(p: Profile) -> None:
    """Give repmgr its database on the primary and register the primary there (once)."""
    primary = pg_roles(p)[0]
    if psql(p, "SELECT count(*) FROM pg_database WHERE datname = 'repmgr'") == "0":
        psql(p, "CREATE DATABASE repmgr")
    repmgr(p, primary, "primary", "register", "--force")


def build_standby(p: Profile) -> None:
    """Make the node that is not the primary a hot standby of it: repmgr's `standby clone`.

    A data folder that is a standby already is kept. One that is not (the
    former primary, after a failover) is moved aside to `<folder>.diverged`,
    replacing an older one: it may hold commits that no client saw
    acknowledged, which the new timeline does not have. `manage.py
    rebuild_standby` (ops/postgres.py) is the same clone for the operator.
    """
    primary, standby = pg_roles(p)
    datadir = pg_datadir(p, standby)
    if (datadir / "standby.signal").exists():
        return
    if (pg_datadir(p, primary) / "standby.signal").exists():
        raise StackError(
            f"{primary} is recorded as the primary ({p.var / 'postgres-primary'}) but is a standby: "
            "correct that file rather than rebuild the real primary"
        )
    if (datadir / "PG_VERSION").exists():
        supervisorctl(p, "stop", standby, check=False)
        aside = datadir.with_name(f"{datadir.name}.diverged")
        shutil.rmtree(aside, ignore_errors=True)
        datadir.rename(aside)
        say(f"{standby} was no standby: its data folder moved to {aside}")
    say(f"cloning the hot standby {standby} from {primary} with repmgr")
    shutil.rmtree(datadir, ignore_errors=True)
    source = f"host={p.var / 'run'} port={pg_port(p, primary)} user=postgres dbname=repmgr"
    repmgr(p, standby, "-d", source, "standby", "clone", "--fast-checkpoint")


def register_standby(p: Profile) -> None:
    """Register the running standby with repmgr (again, after a clone)."""
    repmgr(p, pg_roles(p)[1], "standby", "register", "--force", "--wait-sync=30")


def start_repmgrd(p: Profile) -> None:
    """Start repmgr's daemon for each node, once both are registered: it fails over from then on."""
    for node in PG_NODES:
        start_program(p, repmgrd_program(node))


def require_sync_standby(p: Profile, timeout: float = 60) -> None:
    """Make commits on the primary wait for the standby, once it streams.

    Not before: with synchronous_standby_names set and no standby connected,
    every commit waits. A failover clears it (release_sync_standby) until the
    new standby streams; docs/failover-and-backups.md has the trade-off.
    """
    streaming = (
        "SELECT count(*) FROM pg_stat_replication"
        f" WHERE application_name = '{pg_roles(p)[1]}' AND state = 'streaming'"
    )
    deadline = time.monotonic() + timeout
    while psql(p, streaming) == "0":
        if time.monotonic() > deadline:
            raise StackError(f"the standby {pg_roles(p)[1]} is not streaming after {timeout:.0f}s")
        time.sleep(0.2)
    if psql(p, "SHOW synchronous_standby_names") != SYNC_STANDBY_NAMES:
        psql(p, f"ALTER SYSTEM SET synchronous_standby_names = '{SYNC_STANDBY_NAMES}'")
        psql(p, "SELECT pg_reload_conf()")


def release_sync_standby(p: Profile) -> None:
    """Let commits on the primary go on without a standby (asynchronous replication)."""
    psql(p, "ALTER SYSTEM RESET synchronous_standby_names")
    psql(p, "SELECT pg_reload_conf()")


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


def wait_pg_ready(p: Profile, port: int, program: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port)], check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise StackError(f"{program} is not accepting connections; read {p.var / 'log' / program}.log")
        time.sleep(0.2)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["up", "down", "ctl", "env", "configs", "render-compose"])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="dev")
    parser.add_argument("--fresh", action="store_true", help="wipe var/<profile> first")
    parser.add_argument("--foreground", action="store_true", help="stay attached; Ctrl-C stops all")
    parser.add_argument("args", nargs="*", help="supervisorctl arguments for `ctl`")
    options = parser.parse_intermixed_args(argv)
    p = PROFILES[options.profile]
    try:
        if options.command == "up":
            try:
                up(p, fresh=options.fresh)
            except StackError:
                down(p)  # nothing half-started stays behind; the logs do
                raise
            if options.foreground:
                foreground(p)
        elif options.command == "down":
            down(p)
        elif options.command == "configs":  # after a failover (ops/topology.py)
            write_configs(p)
        elif options.command == "render-compose":
            write_compose_files()
        elif options.command == "env":
            print("\n".join(f"{k}={v}" for k, v in environment(p).items()))
        else:
            result = supervisorctl(p, *options.args, check=False)
            print(result.stdout, end="")
            return result.returncode
    except StackError as exc:
        print(f"stack: error: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        down(p)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
