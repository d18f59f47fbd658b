"""The fleet: hosts in network namespaces, sshd in each, their inventory and settings, and `fab`.

Hosts (addresses on the fleet's subnet, standard ports on each):

    lb1      .10  nginx in front of the app hosts (HTTP, HTTPS, the CDN)
    app1/2   .11/.12  gunicorn, and pgbouncer (the apps' DB_HOST, repointed by repmgr's hook)
    worker1  .21  run_worker processes, their pgbouncer, gearmand, and the third Redis Sentinel
    db1      .31  PostgreSQL (primary of cluster a: main and shard0), repmgrd and pgbouncer
    replica1 .32  PostgreSQL (standby of db1), repmgrd, pgbouncer, a Redis replica of redis1, a Sentinel;
                  feed shard 1's primary (6381) and feed shard 0's replica (6380)
    db2      .33  PostgreSQL (primary of cluster b: shard1), repmgrd and pgbouncer
    replica2 .34  PostgreSQL (standby of db2), repmgrd and pgbouncer
    redis1   .41  Redis (primary), a Sentinel; feed shard 0's primary (6380) and shard 1's replica (6381)
    cache1   .51  memcached
    s3       .70  the S3-protocol server (deploy/s3server.py), started by the test: not a fab role

Each host's folder is var/fleet/<host> (its `root`, with its services' data
under `data`): the namespaces share one filesystem. The hosts run their
services under supervisord (`service_manager = "supervisord"`): a namespace
has no systemd.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.fleet.netns import Network
from tests.ops.sshd import SSHServers, commit_head_tree

ROOT = Path(__file__).resolve().parents[2]
FAB = Path(sys.executable).parent / "fab"

HOSTS = {
    "lb1": (10, ("lb",)),
    "app1": (11, ("app",)),
    "app2": (12, ("app",)),
    "worker1": (21, ("worker", "gearman")),
    "db1": (31, ("db",)),
    # Inventory order makes the primaries: db1 and redis1 come first in their roles.
    "redis1": (41, ("redis",)),
    "replica1": (32, ("db", "redis")),
    "cache1": (51, ("cache",)),
    "db2": (33, ("db",)),
    "replica2": (34, ("db",)),
    "s3": (70, ()),
}
# Two PostgreSQL clusters, each with its standby, each failing over on its own
# (the inventory's [db_clusters]): the first primary holds main and shard0, the second shard1.
DB_CLUSTERS = {
    "a": (("db1", "replica1"), ("main", "shard0")),
    "b": (("db2", "replica2"), ("shard1",)),
}
S3_PORT = 9000
PGBOUNCER_PORT = 6432
REDIS_PASSWORD = "fleet-redis-password"
# The Sentinels' own (their requirepass), not Redis's: fab setup gives each its own.
SENTINEL_PASSWORD = "fleet-sentinel-password"
# Feed shards the redis hosts run beside the main instance ([redis] feed_shards).
FEED_SHARDS = 2


def profile_number() -> int:
    """0 for the `test` profile, 1 for test-a, 2 for test-b ...: each profile's fleet has its own subnet."""
    name = os.environ.get("IG_ENVIRONMENT", "test")
    suffix = name.removeprefix("test").removeprefix("-")
    return 0 if not suffix else (ord(suffix[0]) - ord("a") + 1) % 200


class FleetError(AssertionError):
    pass


@dataclass
class Fleet:
    """The namespaces, sshd servers, inventory and settings of one fleet."""

    workdir: Path
    network: Network
    servers: SSHServers
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    figures: dict[str, object] = field(default_factory=dict)
    set_up: bool = False
    revision: str = ""  # the release `fab deploy` put on the fleet last

    @property
    def inventory(self) -> Path:
        return self.workdir / "inventory.toml"

    @property
    def env_file(self) -> Path:
        return self.workdir / "fleet.env"

    def authorized_keys(self, host: str) -> Path:
        return self.root(host) / "ssh" / "authorized_keys"

    def address(self, host: str) -> str:
        return self.network.hosts[host]

    def root(self, host: str) -> Path:
        return self.workdir / host

    @property
    def lb(self) -> str:
        return f"http://{self.address('lb1')}"

    # ------------------------------------------------------------ building it

    def build(self) -> None:
        self.network.create()
        self.servers.prepare()
        (self.workdir / "sshd").mkdir(exist_ok=True)
        for name, (number, _) in HOSTS.items():
            address = self.network.add_host(name, number)
            self.root(name).mkdir(parents=True, exist_ok=True)
            self.start_sshd(name, address)
        self.start_s3()
        self.write_tls()
        self.write_env()
        self.write_inventory()

    def start_sshd(self, host: str, address: str) -> None:
        log = self.workdir / "sshd" / f"{host}.log"
        process = subprocess.Popen(
            self.network.exec(
                host,
                "/usr/sbin/sshd",
                "-D",
                "-e",
                "-f",
                str(self.servers.workdir / "sshd_config"),
                "-o",
                f"ListenAddress={address}",
                "-o",
                f"PidFile={self.workdir / 'sshd' / f'{host}.pid'}",
                # The test's client key, and the host's own file where `fab setup`
                # authorizes the db hosts' repmgr hook keys (the inventory's authorized_keys).
                "-o",
                f"AuthorizedKeysFile={self.servers.workdir / 'authorized_keys'} {self.authorized_keys(host)}",
            ),
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.processes[f"sshd-{host}"] = process
        self.wait_port(address, 22, f"sshd on {host}", log, process)
        host_key = (self.servers.workdir / "host_key.pub").read_text().split()
        with self.servers.known_hosts.open("a") as f:
            f.write(f"{address} {host_key[0]} {host_key[1]}\n")

    def start_s3(self) -> None:
        log = self.workdir / "s3.log"
        process = subprocess.Popen(
            self.network.exec(
                "s3",
                sys.executable,
                str(ROOT / "deploy" / "s3server.py"),
                "--host",
                self.address("s3"),
                "--port",
                str(S3_PORT),
                "--data",
                str(self.root("s3") / "data"),
            ),
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        self.processes["s3"] = process
        self.wait_port(self.address("s3"), S3_PORT, "the S3 server", log, process)

    def wait_port(
        self,
        address: str,
        port: int,
        what: str,
        log: Path,
        process: subprocess.Popen[bytes],
        timeout: float = 30,
    ) -> None:
        import socket

        deadline = time.monotonic() + timeout
        while True:
            with socket.socket() as sock:
                sock.settimeout(0.5)
                if sock.connect_ex((address, port)) == 0:
                    return
            if process.poll() is not None or time.monotonic() > deadline:
                raise FleetError(f"{what} does not listen on {address}:{port}:\n{tail(log)}")
            time.sleep(0.1)

    def write_tls(self) -> None:
        from deploy.tls import ensure_certificate

        ensure_certificate(self.workdir / "tls", [self.address("lb1")])

    def write_env(self) -> None:
        """The settings `fab setup --env` uploads (what the inventory decides, fab adds itself)."""
        lb, s3 = self.address("lb1"), self.address("s3")
        # The lb (and `fab status` asking it on loopback), the app hosts (fab's own probes).
        hosts = ",".join([lb, "localhost", "127.0.0.1", *(self.address(h) for h in ("app1", "app2"))])
        # The password: Redis's requirepass and masterauth, the Sentinels' auth-pass (fab setup).
        redis = f"redis://:{REDIS_PASSWORD}@{self.address('redis1')}:6379/0"
        values = {
            # A test environment: the development keys below are allowed.
            "IG_ENVIRONMENT": "test-fleet",
            "DJANGO_SETTINGS_MODULE": "instagram.settings",
            "DJANGO_SECRET_KEY": "local-fleet-only-secret-key-not-for-production-use",
            "FIELD_ENCRYPTION_KEYS": "local-fleet-only-encryption-key-not-for-production-use",
            "DJANGO_DEBUG": "0",
            "DJANGO_ALLOWED_HOSTS": hosts,
            "PUBLIC_BASE_URL": f"http://{lb}",
            "PUBLIC_TLS_BASE_URL": f"https://{lb}",
            "LOG_FORMAT": "text",
            # No DB_HOST: every app, worker and db host gets its own pgbouncer (127.0.0.1),
            # which follows the primary repmgrd promotes.
            "DB_PORT": str(PGBOUNCER_PORT),
            "DB_USER": "instagram",
            "DB_PASSWORD": "fleet-db-password",
            "DB_MAIN": "main",
            "DB_SHARDS": "shard0,shard1",
            "LOGICAL_SHARDS": "16",
            # The load tests' few tokens make thousands of requests an hour.
            "RATE_LIMIT_REQUESTS_PER_HOUR": "1000000",
            "RATE_LIMIT_WRITES_PER_HOUR": "1000000",
            "REDIS_URL": redis,
            "REDIS_REPLICA_URL": f"redis://:{REDIS_PASSWORD}@{self.address('replica1')}:6379/0",
            "REDIS_SENTINEL_PASSWORD": SENTINEL_PASSWORD,
            "S3_ENDPOINT_URL": f"http://{s3}:{S3_PORT}",
            "S3_BUCKET": "instagram-media",
            "S3_REGION": "us-east-1",
            "BACKUP_BUCKET": "instagram-backups",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "CDN_URL": f"http://{lb}:8001",
            "CDN_PURGE_URL": f"http://{lb}:8001",
            "SUBSCRIPTION_CALLBACKS_ALLOW_PRIVATE": "1",
        }
        self.env_file.write_text("".join(f"{key}={value}\n" for key, value in values.items()))

    def write_inventory(self) -> None:
        roles: dict[str, list[str]] = {}
        for name, (_, host_roles) in HOSTS.items():
            for role in host_roles:
                roles.setdefault(role, []).append(name)
        lines = [
            "# Written by tests/fleet: one network namespace per host (docs/fleet.md).",
            "[defaults]",
            'user = "root"',
            f'identity = "{self.servers.client_key}"',
            f'known_hosts = "{self.servers.known_hosts}"',
            # The hosts run the interpreter the tests run on (the wheels' version).
            f'python = "{os.path.realpath(sys.executable)}"',
            'service_manager = "supervisord"',
            "workers = 1",
            "[deploy]",
            "keep_releases = 3",
            # REDIS_FEED_URLS are fab's (roles.feed_settings): shard i's primary on redis host i mod 2.
            "[redis]",
            f"feed_shards = {FEED_SHARDS}",
            "[roles]",
            *(f"{role} = {json.dumps(names)}" for role, names in roles.items()),
            "[db_clusters]",
            *(
                f"{name} = {{ hosts = {json.dumps(list(hosts))}, databases = {json.dumps(list(databases))} }}"
                for name, (hosts, databases) in DB_CLUSTERS.items()
            ),
        ]
        for name, (_, host_roles) in HOSTS.items():
            if not host_roles:
                continue
            address = self.address(name)
            lines += [
                f"[hosts.{name}]",
                f'host = "{address}"',
                f'root = "{self.root(name)}"',
                f'data = "{self.root(name) / "data"}"',
                f'authorized_keys = "{self.authorized_keys(name)}"',
            ]
            if "app" in host_roles:
                lines.append(f'bind = "{address}:8000"')
            if "db" in host_roles:
                lines.append(f'pg_data = "{self.root(name) / "data" / "postgresql"}"')
            if "lb" in host_roles:
                # nginx listens on every address of the host (the default,
                # 0.0.0.0): `fab status` asks it on loopback.
                lines += [
                    f'tls_certificate = "{self.workdir / "tls" / "server.pem"}"',
                    f'tls_certificate_key = "{self.workdir / "tls" / "server.key"}"',
                ]
        self.inventory.write_text("\n".join(lines) + "\n")

    # ------------------------------------------------------------ using it

    def fab(self, *args: str, ok: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        result = subprocess.run(
            [str(FAB), *args],
            cwd=ROOT,
            env={**os.environ, "IG_INVENTORY": str(self.inventory)},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        print(f"$ fab {' '.join(args)}  ({time.monotonic() - started:.1f}s)\n{result.stdout}{result.stderr}")
        if ok and result.returncode != 0:
            raise FleetError(
                f"fab {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
                f"{self.log_tails()}"
            )
        return result

    def set_up_and_deploy(self) -> None:
        """What the first fleet tests do, for a module run on its own: `fab setup`, then a first release."""
        if not self.set_up:
            self.fab("setup", "--env", str(self.env_file))
            self.set_up = True
        if not self.revision:
            self.deploy_first_release()

    def deploy_first_release(self) -> None:
        revision = self.new_revision("fleet test: first release")
        self.fab("deploy", "--revision", revision, timeout=600)
        self.revision = revision
        # The media bucket, once, from an app host (docs/deploy.md).
        bucket = self.manage("app1", "ensure_bucket")
        if bucket.returncode != 0:
            raise FleetError(f"ensure_bucket on app1: {bucket.stdout}{bucket.stderr}")

    def new_revision(self, message: str) -> str:
        """Make a commit of HEAD's tree (no branch or file moves) and return its id: a new release."""
        return commit_head_tree(message, who="fleet")

    def manage(self, host: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run manage.py of `host`'s current release with its settings, on the host."""
        root = self.root(host)
        return self.on(
            host,
            "sh",
            "-c",
            f"cd {root}/current && set -a && . {root}/shared/env && set +a"
            f" && ./venv/bin/python manage.py {' '.join(args)}",
            timeout=120,
        )

    def on(self, host: str, *command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run `command` inside host `host`'s namespace (as the host's own root would)."""
        return subprocess.run(
            self.network.exec(host, *command), capture_output=True, text=True, timeout=timeout, check=False
        )

    def log_tails(self) -> str:
        """The last lines of every log of every host: what a failed step prints."""
        parts = []
        for log in sorted(self.workdir.glob("*/shared/log/*.log")) + sorted(
            self.workdir.glob("*/shared/*/log/*.log")
        ):
            text = tail(log)
            if text:
                parts.append(f"\n--- {log.relative_to(self.workdir)}\n{text}")
        return "".join(parts)

    def destroy(self) -> None:
        self.network.destroy()
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
        # The releases and virtualenvs weigh about 250 MB a host; the logs stay for reading.
        for host in HOSTS:
            for bulk in ("releases", "shared/venvs", "shared/wheelhouses", "shared/services/lib"):
                shutil.rmtree(self.root(host) / bulk, ignore_errors=True)


def tail(path: Path, lines: int = 12) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
