"""fab deploy, rollback and their siblings, over real SSH to two pretend hosts.

Two sshd servers on loopback are the hosts app1 and app2: each has its own
folder and gunicorn port, runs gunicorn and a worker, and takes its settings
from the test stack's env file, so both serve against the stack's databases,
Redis and gearmand. The tests run `fab` as an operator would, in the order a
release goes: first deploy, a second one under a stream of requests, a
rollback, a deploy one host refuses, then the day-to-day tasks.

Deployed revisions are commits of HEAD's tree made with `git commit-tree`:
real revisions with their own ids, and no branch or working file touched.
"""

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from django.conf import settings

from tests.conftest import ROOT, Stack, wait_for
from tests.ops.sshd import SSHServers, commit_head_tree, free_port

FAB = Path(sys.executable).parent / "fab"
HOSTS = ("app1", "app2")
LB = "lb1"


@dataclass
class Fleet:
    """The pretend hosts, their inventory, and `fab` run against it."""

    workdir: Path
    servers: SSHServers
    binds: dict[str, int]
    revisions: list[str] = field(default_factory=list)
    lb_ports: dict[str, int] = field(default_factory=dict)

    @property
    def inventory(self) -> Path:
        return self.workdir / "inventory.toml"

    def root(self, host: str) -> Path:
        return self.workdir / host

    def url(self, host: str) -> str:
        return f"http://127.0.0.1:{self.binds[host]}"

    def fab(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(FAB), *args],
            cwd=ROOT,
            env={**os.environ, "IG_INVENTORY": str(self.inventory)},
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        print(f"$ fab {' '.join(args)}\n{result.stdout}{result.stderr}")  # shown when a test fails
        if ok and result.returncode != 0:
            raise AssertionError(
                f"fab {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
            )
        return result

    def new_revision(self, message: str) -> str:
        """Make a commit of HEAD's tree (no ref moves) and return its id."""
        revision = commit_head_tree(message, who="fab")
        self.revisions.append(revision)
        return revision

    def served_release(self, host: str) -> str:
        response = requests.get(f"{self.url(host)}/ping", timeout=10)
        assert response.status_code == 200, response.text
        assert response.headers["X-Served-By"] == host
        version, _, revision = response.headers["X-Release"].partition("+")
        assert version == settings.VERSION
        return revision

    def current(self, host: str) -> str:
        """Return the release id `current` points to on `host`."""
        return os.readlink(self.root(host) / "current").rsplit("/", 1)[-1]

    def supervisorctl(self, host: str, *args: str) -> str:
        shared = self.root(host) / "shared"
        result = subprocess.run(
            [
                str(shared / "supervisor" / "bin" / "supervisorctl"),
                "-c",
                str(shared / "supervisord.conf"),
                *args,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        return result.stdout

    def stop_lb(self) -> None:
        """Stop the nginx `fab setup` started on the lb host."""
        pidfile = self.root(LB) / "shared" / "nginx" / "run" / "nginx.pid"
        if pidfile.exists():
            subprocess.run(["kill", "-QUIT", pidfile.read_text().strip()], check=False)

    def stop_host(self, host: str) -> None:
        """Stop the host's supervisord and everything it runs."""
        pidfile = self.root(host) / "shared" / "run" / "supervisord.pid"
        if not pidfile.exists():
            return
        pid = int(pidfile.read_text())
        self.supervisorctl(host, "shutdown")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
        os.kill(pid, 9)


@pytest.fixture(scope="module")
def fleet(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    workdir = tmp_path_factory.mktemp("fab")
    servers = SSHServers(workdir / "ssh")
    servers.prepare()
    ports = {host: free_port() for host in (*HOSTS, LB)}
    for port in ports.values():
        servers.start(port)
    fleet = Fleet(workdir=workdir, servers=servers, binds={host: free_port() for host in HOSTS})
    fleet.lb_ports = {name: free_port() for name in ("http_port", "https_port", "cdn_port", "cdn_https_port")}
    lines = [
        "[defaults]",
        'host = "127.0.0.1"',
        f'user = "{servers.user}"',
        f'identity = "{servers.client_key}"',
        f'known_hosts = "{servers.known_hosts}"',
        # The pretend hosts run the interpreter the tests run on (the wheels' version).
        f'python = "{os.path.realpath(sys.executable)}"',
        "workers = 1",
        "[deploy]",
        "keep_releases = 3",
        "[roles]",
        # app1 is also the (pretend) db, redis and cache host: its checks in
        # `fab status` probe the test stack's own servers. lb1 runs the nginx
        # `fab setup` configures, in front of app1 and app2.
        'app = ["app1", "app2"]',
        'worker = ["app1", "app2"]',
        'db = ["app1"]',
        'redis = ["app1"]',
        'cache = ["app1"]',
        'gearman = ["app1"]',
        f'lb = ["{LB}"]',
    ]
    for host in HOSTS:
        lines += [
            f"[hosts.{host}]",
            f"port = {ports[host]}",
            f'root = "{fleet.root(host)}"',
            f'bind = "127.0.0.1:{fleet.binds[host]}"',
        ]
    profile = stack.profile
    after_app1 = lines.index("[hosts.app1]") + 1
    lines[after_app1:after_app1] = [
        # Its db, redis, cache and gearman servers are the test stack's: fab setup leaves them alone.
        'service_manager = "none"',
        f"pg_port = {profile.pg_primary}",
        f"redis_port = {profile.redis_primary}",
        f"memcached_port = {profile.memcached}",
        f"gearman_port = {profile.gearmand}",
        f"http_port = {profile.nginx}",
    ]
    lines += [
        f"[hosts.{LB}]",
        f"port = {ports[LB]}",
        f'root = "{fleet.root(LB)}"',
        # This machine has no systemd: fab runs nginx itself (on systemd, the unit instagram-nginx).
        'service_manager = "none"',
        'listen = "127.0.0.1"',
        f'nginx_user = "{servers.user}"',
        f'tls_certificate = "{profile.var / "tls" / "server.pem"}"',
        f'tls_certificate_key = "{profile.var / "tls" / "server.key"}"',
        *(f"{name} = {port}" for name, port in fleet.lb_ports.items()),
    ]
    fleet.inventory.write_text("\n".join(lines) + "\n")
    try:
        fleet.fab("setup", "--env", str(profile.var / "env"), "-H", f"app1,app2,{LB}")
        yield fleet
    finally:
        for host in HOSTS:
            fleet.stop_host(host)
        fleet.stop_lb()
        servers.stop()


@dataclass
class RequestStream:
    """GETs /ping on a host over fresh connections, recording each answer's release or error."""

    url: str
    releases: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                response = requests.get(f"{self.url}/ping", timeout=30, headers={"Connection": "close"})
            except requests.RequestException as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            else:
                if response.status_code == 200:
                    self.releases.append(response.headers["X-Release"].partition("+")[2])
                else:
                    self.errors.append(f"{response.status_code}: {response.text[:200]}")
            time.sleep(0.05)  # about 15 a second: a steady stream that leaves the CPU to the deploy


def test_setup_derives_the_server_lists_from_the_inventory() -> None:
    from deploy.fleet.inventory import Inventory
    from deploy.fleet.roles import inventory_settings

    inventory = Inventory.load(ROOT / "deploy" / "inventory.example.toml")
    derived = inventory_settings(inventory, inventory.hosts["app1"], given=set())
    assert derived == {
        "FORWARDED_ALLOW_IPS": "10.0.0.10",
        "MEMCACHED_SERVERS": "10.0.2.31:11211",
        "GEARMAN_SERVERS": "10.0.2.41:4730",
        # Three Sentinels: the redis host, then db1 and cache1 (inventory.default_sentinels).
        "REDIS_SENTINELS": "10.0.2.11:26379,10.0.2.21:26379,10.0.2.31:26379",
        # The app host's own pgbouncer, which repmgr's hook repoints at a promoted standby.
        "DB_HOST": "127.0.0.1",
        "DB_REPLICA_HOST": "127.0.0.1",
    }
    # What the uploaded settings file says stays as it says.
    assert "GEARMAN_SERVERS" not in inventory_settings(
        inventory, inventory.hosts["app1"], given={"GEARMAN_SERVERS"}
    )
    assert "IG_TOPOLOGY" in inventory_settings(inventory, inventory.hosts["db1"], given=set())


def test_the_2011_fleet_inventory_renders_a_valid_lb(stack: Stack, tmp_path: Path) -> None:
    """docs/fleet.md's inventory: 3 lb, 25 app, 200 workers, 12+12 db, 4+4 Redis, 6 memcached, 2 gearmand."""
    import dataclasses

    from deploy.fleet.inventory import ROLES, Inventory
    from deploy.fleet.roles import inventory_settings, render_lb_nginx

    inventory = Inventory.load(ROOT / "deploy" / "inventory.2011.toml")
    hosts = list(inventory.hosts.values())
    counts = {role: sum(role in h.roles for h in hosts) for role in ROLES}
    assert counts == {
        "app": 25,
        "worker": 25,
        "db": 24,
        "redis": 8,
        "sentinel": 3,
        "cache": 6,
        "gearman": 2,
        "lb": 3,
    }
    assert sum(h.workers for h in hosts if "worker" in h.roles) == 200
    # 12 PostgreSQL clusters, each a primary and its standby holding its physical shard (the first, main too).
    from deploy.fleet.roles import cluster_specs

    shards = ",".join(f"shard{n}" for n in range(12))
    clusters = cluster_specs(inventory, {"DB_SHARDS": shards})
    assert [(c.hosts, c.databases) for c in clusters][:2] == [
        (("db01", "db01s"), ("main", "shard0")),
        (("db02", "db02s"), ("shard1",)),
    ]
    assert len(clusters) == 12
    derived = inventory_settings(inventory, inventory.hosts["app01"], given=set())
    assert len(derived["MEMCACHED_SERVERS"].split(",")) == 6
    assert derived["GEARMAN_SERVERS"] == "10.0.6.11:4730,10.0.6.12:4730"
    assert derived["FORWARDED_ALLOW_IPS"] == "10.0.0.11,10.0.0.12,10.0.0.13"
    # lb1's nginx, rendered where this machine can check it with nginx itself.
    lb1 = dataclasses.replace(
        inventory.hosts["lb1"],
        root=str(tmp_path),
        tls_certificate=str(stack.profile.var / "tls" / "server.pem"),
        tls_certificate_key=str(stack.profile.var / "tls" / "server.key"),
    )
    conf = render_lb_nginx(inventory, lb1, {"S3_ENDPOINT_URL": "http://10.0.7.10:9000"})
    assert conf.count(" max_fails=1 fail_timeout=10s;") == 25
    assert "server 10.0.1.35:8000 max_fails=1" in conf
    assert conf.count("/32 1;") == 50  # every app and worker host may purge the CDN
    for folder in ("log", "run", "nginx"):
        (tmp_path / "shared" / "nginx" / folder).mkdir(parents=True)
    (tmp_path / "nginx.conf").write_text(conf)
    checked = subprocess.run(
        ["/usr/sbin/nginx", "-t", "-q", "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


def test_the_example_inventory_reads_and_h_narrows_it() -> None:
    from deploy.fleet.inventory import RELEASE_ROLES, Inventory

    inventory = Inventory.load(ROOT / "deploy" / "inventory.example.toml")
    assert [h.name for h in inventory.select(RELEASE_ROLES)] == [
        "app1",
        "app2",
        "worker1",
        "db1",
        "redis1",
    ]
    assert inventory.hosts["worker1"].workers == 4
    assert inventory.hosts["app1"].local_url == "http://10.0.1.11:8000"
    assert inventory.hosts["db1"].services["pg_port"] == 5432
    # -H: inventory names or addresses; another host is an app and worker host with the defaults.
    chosen = inventory.select(("app", "worker"), ["10.0.1.12", "ops@10.0.9.9:2222"])
    assert [(h.name, h.address, h.user, h.port, h.roles) for h in chosen] == [
        ("app2", "10.0.1.12", "deploy", 22, ("app",)),
        ("ops@10.0.9.9:2222", "10.0.9.9", "ops", 2222, ("app", "worker")),
    ]
    assert inventory.select(("app",), ["db1"]) == []


def test_deploy_installs_and_serves_the_release_on_every_host(fleet: Fleet, healthy_stack: Stack) -> None:
    revision = fleet.new_revision("fab test: first release")
    result = fleet.fab("deploy", "--revision", revision)
    assert "migrate_shards" in result.stdout
    for host in HOSTS:
        assert fleet.served_release(host) == revision
        root = fleet.root(host)
        release = fleet.current(host)
        assert release.endswith(revision[:10])
        assert (root / "releases" / release / "REVISION").read_text().strip() == revision
        # The release's venv is shared by every release of the same requirements.
        venv = os.readlink(root / "releases" / release / "venv")
        assert venv.startswith("../../shared/venvs/")
        assert (root / "releases" / release / "venv" / ".complete").exists()
    status = fleet.fab("status")
    assert "[app, worker, db, redis, cache, gearman]" in status.stdout
    assert "[app, worker]" in status.stdout
    assert "[lb]" in status.stdout
    for check in ("ssh", "release", "processes", "app", "db", "redis", "cache", "gearman", "lb"):
        assert f"ok   {check} " in status.stdout
    assert "DOWN" not in status.stdout
    assert status.stdout.count(fleet.current("app1")) == 2
    assert "all hosts up" in status.stdout


def test_setup_puts_nginx_on_the_lb_in_front_of_every_app_host(fleet: Fleet, healthy_stack: Stack) -> None:
    """fab setup rendered nginx on lb1 from the inventory: both app hosts behind it, HTTPS, the CDN."""
    lb = f"http://127.0.0.1:{fleet.lb_ports['http_port']}"

    def served(requests_made: int) -> set[str]:
        return {requests.get(f"{lb}/ping", timeout=10).headers["X-Served-By"] for _ in range(requests_made)}

    assert served(12) == set(HOSTS)
    tls = requests.Session()
    tls.trust_env = False  # the stack's CA, not the environment's bundle
    secure = tls.get(
        f"https://localhost:{fleet.lb_ports['https_port']}/ping", verify=str(healthy_stack.tls_ca), timeout=10
    )
    assert secure.status_code == 200
    conf = (fleet.root(LB) / "shared" / "nginx" / "nginx.conf").read_text()
    for host in HOSTS:
        assert f"server 127.0.0.1:{fleet.binds[host]} max_fails=1" in conf
    assert "127.0.0.1/32 1;" in conf  # the app and worker hosts may purge the CDN
    # The CDN on the lb serves nothing but rendition keys (the bucket listing stays closed).
    assert requests.get(f"http://127.0.0.1:{fleet.lb_ports['cdn_port']}/", timeout=10).status_code == 404
    # A second run changes nothing; one app host out of the inventory is out of nginx.
    again = fleet.fab("setup", "--env", str(healthy_stack.profile.var / "env"), "-H", LB)
    assert "nginx: configuration unchanged" in again.stdout
    original = fleet.inventory.read_text()
    try:
        fleet.inventory.write_text(original.replace('app = ["app1", "app2"]', 'app = ["app1"]'))
        fleet.fab("setup", "--env", str(healthy_stack.profile.var / "env"), "-H", LB)
        # A reload lets old nginx workers finish: wait until only the new ones answer.
        wait_for(lambda: served(8) == {"app1"} or None, timeout=20)
    finally:
        fleet.inventory.write_text(original)
        fleet.fab("setup", "--env", str(healthy_stack.profile.var / "env"), "-H", LB)
    wait_for(lambda: served(12) == set(HOSTS) or None, timeout=20)


def test_redeploy_reloads_gracefully_under_a_request_stream(fleet: Fleet) -> None:
    previous = fleet.revisions[-1]
    # Two older releases (keep_releases = 3): the oldest goes, with the venv only it used.
    app1 = fleet.root("app1")
    for name in ("20000101000000-oldest", "20000102000000-older"):
        (app1 / "releases" / name).mkdir()
    (app1 / "shared" / "venvs" / "0ld").mkdir()
    (app1 / "releases" / "20000101000000-oldest" / "venv").symlink_to("../../shared/venvs/0ld")
    masters = {host: fleet.supervisorctl(host, "pid", "app").strip() for host in HOSTS}
    workers = {host: fleet.supervisorctl(host, "pid", "worker:worker-0").strip() for host in HOSTS}
    streams = {host: RequestStream(fleet.url(host)) for host in HOSTS}
    threads = [threading.Thread(target=s.run) for s in streams.values()]
    for thread in threads:
        thread.start()
    try:
        revision = fleet.new_revision("fab test: second release")
        result = fleet.fab("deploy", "--revision", revision)
        time.sleep(0.5)
    finally:
        for stream in streams.values():
            stream.stop.set()
        for thread in threads:
            thread.join()
    # The second deploy reuses the wheelhouse and the venv: nothing to upload or install.
    assert "wheelhouse" not in result.stdout
    assert "installing the virtualenv" not in result.stdout
    for host, stream in streams.items():
        assert stream.errors == [], f"{host}: {stream.errors[:5]}"
        assert stream.releases[0] == previous
        assert stream.releases[-20:] == [revision] * 20, host
        assert len(stream.releases) > 100, f"{host}: only {len(stream.releases)} answers"
        # The same gunicorn master (its socket never closed); a new worker process.
        assert fleet.supervisorctl(host, "pid", "app").strip() == masters[host]
        assert fleet.supervisorctl(host, "pid", "worker:worker-0").strip() != workers[host]
        log = (fleet.root(host) / "shared" / "log" / "supervisord.log").read_text()
        assert "stopped: worker-0 (exit status 0)" in log  # it left on SIGTERM, between jobs
        assert fleet.served_release(host) == revision
    # The newest three releases stay; the oldest went, and so did the venv only it used.
    kept = sorted(os.listdir(app1 / "releases"))
    assert kept[0] == "20000102000000-older"
    assert kept[2] == fleet.current("app1")
    assert sorted(os.listdir(app1 / "shared" / "venvs")) == [
        os.readlink(app1 / "current" / "venv").split("/")[-1]
    ]


def test_rollback_switches_every_host_back(fleet: Fleet) -> None:
    first = fleet.revisions[0]
    releases = sorted(os.listdir(fleet.root("app2") / "releases"))
    assert fleet.current("app2") == releases[-1]
    fleet.fab("rollback")
    for host in HOSTS:
        assert fleet.current(host) == releases[-2]
        assert fleet.served_release(host) == first
    listing = fleet.fab("releases").stdout
    assert f"[app1] * {releases[-2]}" in listing
    assert f"[app2]   {releases[-1]}" in listing
    # A release some host lacks: nothing switches.
    missing = fleet.fab("rollback", "--release", "20000102000000-older", ok=False)
    assert missing.returncode == 1
    assert "rollback stopped before the switch: 20000102000000-older is not on app2 (" in missing.stderr
    assert fleet.current("app1") == releases[-2]
    # Another rollout holds app2's lock: nothing switches, and app1's lock is given back.
    lock = fleet.root("app2") / "shared" / "rollout.lock"
    lock.mkdir()
    (lock / "owner").write_text("deploy of 20991231000000-abc, by someone@elsewhere\n")
    try:
        held = fleet.fab("rollback", ok=False)
    finally:
        shutil.rmtree(lock)
    assert held.returncode == 1
    assert "rollback stopped: another rollout runs (nothing changed)" in held.stderr
    assert "app2 (" in held.stderr
    assert "someone@elsewhere" in held.stderr
    for host in HOSTS:
        assert fleet.current(host) == releases[-2]
        assert not (fleet.root(host) / "shared" / "rollout.lock").exists()


def test_a_host_that_cannot_run_the_release_stops_the_rollout_before_the_switch(fleet: Fleet) -> None:
    serving = fleet.served_release("app1")
    before = {host: fleet.current(host) for host in HOSTS}
    env = fleet.root("app2") / "shared" / "env"
    env.rename(env.with_name("env.away"))
    try:
        revision = fleet.new_revision("fab test: refused release")
        result = fleet.fab("deploy", "--revision", revision, ok=False)
    finally:
        env.with_name("env.away").rename(env)
    assert result.returncode == 1
    assert "deploy stopped before the switch" in result.stderr
    assert "app2 (" in result.stderr
    assert f"{env} is missing" in result.stderr
    assert "app1 (" not in result.stderr  # app1 was ready; only app2 is named
    for host in HOSTS:
        assert fleet.current(host) == before[host]
        assert fleet.served_release(host) == serving
        # The release that never became current is gone again.
        assert not [r for r in os.listdir(fleet.root(host) / "releases") if r.endswith(revision[:10])]


def test_migrate_shards_restart_and_status(fleet: Fleet, healthy_stack: Stack) -> None:
    serving = fleet.served_release("app1")
    migrate = fleet.fab("migrate").stdout
    assert "No migrations to apply." in migrate
    assert "shards migrated, the rest were up to date" in migrate

    shards = fleet.fab("shards").stdout
    assert "shards    0-" in shards
    assert "shard0:" in shards
    assert "shard1:" in shards

    # backup runs the ops commands on the db and redis host (app1), through its current release.
    backups = fleet.fab("backup", "--list").stdout
    assert "[app1] " in backups
    assert " base backups in s3://" in backups
    assert " Redis dumps in s3://" in backups

    # A stopped program is what status reports, by host.
    fleet.supervisorctl("app2", "stop", "app")
    down = fleet.fab("status", ok=False)
    assert down.returncode == 1
    assert "app2:processes" in down.stderr
    assert "app2:app" in down.stderr
    assert "app1:" not in down.stderr

    # A host that does not answer SSH (-H takes hosts the inventory does not list).
    unreachable = fleet.fab("-H", f"app1,127.0.0.1:{free_port()}", "status", ok=False)
    assert unreachable.returncode == 1
    assert "DOWN ssh" in unreachable.stdout
    assert "ok   release" in unreachable.stdout  # app1's checks still ran

    # restart brings it back; -H narrows it to app2, so app1's worker keeps running.
    app1_worker = fleet.supervisorctl("app1", "pid", "worker:worker-0")
    fleet.fab("-H", "app2", "restart")
    assert fleet.supervisorctl("app1", "pid", "worker:worker-0") == app1_worker
    assert "all hosts up" in fleet.fab("status").stdout
    for host in HOSTS:
        assert fleet.served_release(host) == serving
