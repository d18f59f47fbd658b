"""Issue 17's acceptance: a fleet of hosts, each in its own network namespace, set up and deployed by fab.

The fixture (conftest.py, fleet.py, netns.py) makes the hosts: an lb, two app
hosts, a worker host that also runs gearmand, a db host (PostgreSQL and
pgbouncer), a redis host and a cache host, each with its own address and
sshd. Then, in order, as an operator would: `fab setup` provisions every
role and a second run changes nothing; `fab deploy` brings the fleet up and
the API answers through the lb; an app host drops off the network under a
steady read load; a new release is deployed under load. Figures go to the
output (pytest -s) and to var/fleet-<n>/figures.json.
"""

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import requests

from tests.fleet.fleet import Fleet, FleetError
from tests.photos.images import jpeg

pytestmark = [pytest.mark.fleet, pytest.mark.timeout(900)]

SERVICE_HOSTS = ("db1", "replica1", "redis1", "cache1", "worker1")


def session() -> requests.Session:
    http = requests.Session()
    http.trust_env = False  # the fleet's addresses, never through a proxy of the environment
    return http


def wait_until(check: Callable[[], object], *, timeout: float, what: str, fleet: Fleet) -> object:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (requests.RequestException, ValueError, KeyError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.5)
    raise FleetError(f"{what}: not within {timeout:.0f}s (last: {last!r}){fleet.log_tails()}")


def supervised_pids(fleet: Fleet, host: str) -> dict[str, str]:
    """The pid of each server on `host`'s services supervisord."""
    base = fleet.root(host) / "shared" / "services"
    result = subprocess.run(
        [str(base / "bin" / "supervisorctl"), "-c", str(base / "supervisord.conf"), "status"],
        capture_output=True,
        text=True,
        check=False,
    )
    pids = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) > 3 and parts[1] == "RUNNING":
            pids[parts[0]] = parts[3].rstrip(",")
    return pids


def record(fleet: Fleet, name: str, figures: dict[str, object]) -> None:
    fleet.figures[name] = figures
    print(f"\nFLEET FIGURES {name}: {json.dumps(figures)}")
    (fleet.workdir.parent / f"{fleet.workdir.name}-figures.json").write_text(
        json.dumps(fleet.figures, indent=2)
    )


def test_setup_provisions_every_role_and_a_second_run_changes_nothing(fleet: Fleet) -> None:
    first = fleet.fab("setup", "--env", str(fleet.env_file))
    assert "initdb: a new PostgreSQL cluster" in first.stdout
    assert "database instagram_shard1 created" in first.stdout
    assert "[replica1] pg_basebackup from " in first.stdout
    assert "nginx started" in first.stdout
    servers = {
        "db1": {"instagram-postgresql", "instagram-pgbouncer"},
        "replica1": {"instagram-postgresql", "instagram-pgbouncer", "instagram-redis"},
        "redis1": {"instagram-redis"},
        "cache1": {"instagram-memcached"},
        "worker1": {"instagram-gearmand"},
    }
    pids = {host: supervised_pids(fleet, host) for host in SERVICE_HOSTS}
    for host, names in servers.items():
        assert set(pids[host]) == names, f"{host}: {pids[host]}{fleet.log_tails()}"
    # Each server listens on its host's own address (the apps reach them over the bridge).
    for host, port in (("db1", 6432), ("redis1", 6379), ("cache1", 11211), ("worker1", 4730)):
        probe = fleet.on(
            "app1",
            "python3",
            "-c",
            f"import socket; socket.create_connection(('{fleet.address(host)}', {port}), 5)",
        )
        assert probe.returncode == 0, f"{host}:{port} from app1: {probe.stderr}"

    again = fleet.fab("setup", "--env", str(fleet.env_file))
    for host in SERVICE_HOSTS:
        assert f"[{host}] services: unchanged" in again.stdout
    assert "[lb1] nginx: configuration unchanged" in again.stdout
    for word in ("started", "created", "restarted", "initdb", "installing"):
        assert word not in again.stdout, again.stdout
    assert {host: supervised_pids(fleet, host) for host in SERVICE_HOSTS} == pids


@dataclass
class Deployed:
    revision: str = ""


DEPLOYED = Deployed()


def test_deploy_brings_the_fleet_up_and_the_api_answers_through_the_lb(fleet: Fleet) -> None:
    revision = fleet.new_revision("fleet test: first release")
    fleet.fab("deploy", "--revision", revision, timeout=600)
    DEPLOYED.revision = revision
    # The media bucket, once, from an app host (docs/deploy.md).
    bucket = fleet.manage("app1", "ensure_bucket")
    assert bucket.returncode == 0, bucket.stdout + bucket.stderr

    status = fleet.fab("status")
    assert "all hosts up" in status.stdout
    assert "DOWN" not in status.stdout

    http = session()
    served = {http.get(f"{fleet.lb}/ping", timeout=10).headers["X-Served-By"] for _ in range(12)}
    assert served == {"app1", "app2"}

    from tests.v1 import sign_up

    alice = sign_up(fleet.lb, http, prefix="alice")
    bob = sign_up(fleet.lb, http, prefix="bob")
    media = alice.post_photo(jpeg(), caption="Pier at dusk #fleet")
    assert bob.post(f"media/{media['id']}/likes").status_code == 200
    comment = bob.post(f"media/{media['id']}/comments", text="from the other app host")
    assert comment.status_code == 200, comment.text
    read = alice.data(f"media/{media['id']}")
    assert read["likes"]["count"] == 1
    # The caption comes first, as v1 lists it.
    comments = [c["text"] for c in alice.data(f"media/{media['id']}/comments")]
    assert comments == ["Pier at dusk #fleet", "from the other app host"]
    # The photo's renditions through the lb's CDN, from the fleet's S3 server.
    image = http.get(read["images"]["thumbnail"]["url"], timeout=10)
    assert image.status_code == 200
    assert image.headers["Content-Type"] == "image/jpeg"

    def health() -> dict[str, object] | None:
        report: dict[str, object] = http.get(f"{fleet.lb}/health", timeout=15).json()
        return report

    report = health()
    assert report is not None
    components = report["components"]
    print(json.dumps(report, indent=1))
    assert isinstance(components, dict)
    # Every host's server is in the report and up: db1's PostgreSQL (main and both
    # shards) through its pgbouncer, replica1's standby through its own, redis1 and
    # its replica on replica1, cache1, worker1's gearmand and workers, the S3 bucket.
    assert report["status"] == "up", report["down"]
    for name in (
        "postgres:default",
        "postgres:default_replica",
        "postgres:shard0",
        "postgres:shard0_replica",
        "postgres:shard1",
        "postgres:shard1_replica",
        "redis_replica",
        "shard_map",
        "pgbouncer",
        "redis",
        "memcached",
        "gearmand",
        "workers",
        "storage",
    ):
        assert components[name]["status"] == "up", f"{name}: {components[name]}"
    assert components["redis"]["port"] == 6379
    assert components["redis"]["connected_replicas"] == 1
    assert components["memcached"]["servers"] == 1


@dataclass
class Load:
    """Requests through the lb from a few threads until stopped: reads, and comments as writes.

    Each answer is recorded with when it came and which app host and release
    served it; a write counts as acknowledged when the API answered 200 with
    the comment's id, and is looked for again at the end (lost = not found).
    """

    fleet: Fleet
    media: list[str]  # reads ask the first; writes go round all (the API lists 150 comments a media)
    readers: int = 2
    limit: float = 240  # seconds: the load stops by itself, whatever happens
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: list[tuple[float, str, str]] = field(default_factory=list)  # (time, served by, release)
    failures: list[tuple[float, str, str]] = field(default_factory=list)  # (time, read or write, what)
    acknowledged: list[str] = field(default_factory=list)
    in_flight: int = 0
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self, account: object) -> None:
        self.account = account
        self.started = time.monotonic()
        for _ in range(self.readers):
            self.threads.append(threading.Thread(target=self.run, args=(self.read,), daemon=True))
        for request in (self.ping, self.write):
            self.threads.append(threading.Thread(target=self.run, args=(request,), daemon=True))
        for thread in self.threads:
            thread.start()

    def read(self, http: requests.Session) -> requests.Response:
        token = self.account.token  # type: ignore[attr-defined]
        return http.get(
            f"{self.fleet.lb}/v1/media/{self.media[0]}", params={"access_token": token}, timeout=90
        )

    def ping(self, http: requests.Session) -> requests.Response:
        """GET /ping: its X-Release says which release answered."""
        return http.get(f"{self.fleet.lb}/ping", timeout=90)

    def write(self, http: requests.Session) -> requests.Response:
        token = self.account.token  # type: ignore[attr-defined]
        text = f"load {time.monotonic():.6f}"
        media = self.media[len(self.acknowledged) // 100 % len(self.media)]
        return http.post(
            f"{self.fleet.lb}/v1/media/{media}/comments",
            params={"access_token": token},
            data={"text": text},
            timeout=90,
        )

    def run(self, request: Callable[[requests.Session], requests.Response]) -> None:
        http = session()
        while not self.stop.is_set() and time.monotonic() - self.started < self.limit:
            with self.lock:
                self.in_flight += 1
            try:
                response = request(http)
            except requests.RequestException as exc:
                self.note_failure(request, f"{type(exc).__name__}: {exc}")
            else:
                if response.status_code == 200:
                    with self.lock:
                        release = response.headers.get("X-Release", "").partition("+")[2]
                        self.answers.append(
                            (time.monotonic(), response.headers.get("X-Served-By", ""), release)
                        )
                        if request == self.write:
                            self.acknowledged.append(response.json()["data"]["id"])
                else:
                    self.note_failure(request, f"{response.status_code}: {response.text[:200]}")
            finally:
                with self.lock:
                    self.in_flight -= 1
            # About 20 requests a second in all on a loaded machine; a few writes a second.
            time.sleep(0.25 if request == self.write else 0.02)

    def note_failure(self, request: Callable[[requests.Session], requests.Response], what: str) -> None:
        kind = "write" if request == self.write else "read"
        with self.lock:
            self.failures.append((time.monotonic(), kind, what))

    def failed(self, kind: str) -> list[tuple[float, str, str]]:
        with self.lock:
            return [f for f in self.failures if f[1] == kind]

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)

    def lost(self, reader: object) -> list[str]:
        """The acknowledged comments the API no longer has."""
        listed = {
            comment["id"]
            for media in self.media
            for comment in reader.data(f"media/{media}/comments")  # type: ignore[attr-defined]
        }
        assert len(self.acknowledged) <= 100 * len(self.media), "more writes than the check can read back"
        return [comment for comment in self.acknowledged if comment not in listed]

    def served_between(self, start: float, end: float) -> set[str]:
        with self.lock:
            return {host for at, host, _ in self.answers if start <= at <= end}

    def figures(self, **extra: object) -> dict[str, object]:
        return {
            "requests": len(self.answers) + len(self.failures),
            "answered": len(self.answers),
            "acknowledged_writes": len(self.acknowledged),
            "failed": len(self.failures),
            "failed_reads": len(self.failed("read")),
            "failed_writes": len(self.failed("write")),
            **extra,
        }


def load_fixture(fleet: Fleet) -> tuple[Load, object]:
    from tests.v1 import sign_up

    http = session()
    owner = sign_up(fleet.lb, http, prefix="owner")
    media = [owner.post_photo(jpeg(), caption=f"under load {n}")["id"] for n in range(4)]
    return Load(fleet=fleet, media=media), owner


def app_processes(fleet: Fleet, host: str) -> list[int]:
    """The pids of the gunicorn master and workers on app host `host`."""
    return [pid for pid in fleet.network.pids(fleet.network.namespace(host)) if b"gunicorn" in cmdline(pid)]


def cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def test_an_app_host_out_under_a_read_load_fails_no_request(fleet: Fleet) -> None:
    """app1's gunicorn killed (nginx retries its requests on app2), then app1 off the network."""
    load, owner = load_fixture(fleet)
    load.start(owner)
    try:
        wait_until(
            lambda: load.served_between(load.started, time.monotonic()) == {"app1", "app2"},
            timeout=30,
            what="both app hosts answering the load",
            fleet=fleet,
        )
        # 1. SIGKILL every gunicorn process of app1: in-flight requests see a reset.
        killed_at = time.monotonic()
        with load.lock:
            in_flight_at_kill = load.in_flight
        for pid in app_processes(fleet, "app1"):
            os.kill(pid, signal.SIGKILL)
        time.sleep(5)
        # 2. app1 drops off the network for 10 s: connects time out (2 s), nginx marks it down.
        fleet.network.link("app1", up=False)
        dropped_at = time.monotonic()
        time.sleep(10)
        # While app1 is off the network only app2 answers (requests nginx had sent
        # app1 over kept-alive connections wait for it, and finish once it is back).
        offline = load.served_between(dropped_at + 3, time.monotonic())
        assert offline <= {"app2"}
        fleet.network.link("app1", up=True)
        # Back on the network (and restarted by its supervisord): nginx sends it requests again.
        wait_until(
            lambda: "app1" in load.served_between(time.monotonic() - 2, time.monotonic()),
            timeout=60,
            what="app1 serving again through the lb",
            fleet=fleet,
        )
    finally:
        fleet.network.link("app1", up=True)
        load.finish()
    lost = load.lost(owner)
    record(
        fleet,
        "app_host_out",
        load.figures(
            in_flight_at_kill=in_flight_at_kill,
            lost_writes=len(lost),
            seconds=round(time.monotonic() - load.started, 1),
        ),
    )
    assert lost == []
    # GETs are retried on the other app server (proxy_next_upstream error timeout):
    # none fails. A POST nginx had already sent to app1 is not resent: the one
    # write in flight at the kill may fail, no other.
    assert load.failed("read") == []
    assert len(load.failed("write")) <= 1, load.failures
    assert all(at >= killed_at for at, _, _ in load.failures), load.failures
    assert offline == {"app2"}, "nothing answered while app1 was off the network"
    assert len(load.answers) > 100


def test_deploy_of_a_new_release_under_load_fails_no_request(fleet: Fleet) -> None:
    load, owner = load_fixture(fleet)
    previous = DEPLOYED.revision
    revision = fleet.new_revision("fleet test: second release")
    load.start(owner)
    try:
        time.sleep(2)
        started = time.monotonic()
        fleet.fab("deploy", "--revision", revision, timeout=600)
        deploy_seconds = time.monotonic() - started
        time.sleep(2)
    finally:
        load.finish()
    lost = load.lost(owner)
    record(
        fleet,
        "deploy_under_load",
        load.figures(lost_writes=len(lost), deploy_seconds=round(deploy_seconds, 1)),
    )
    assert load.failures == []
    assert lost == []
    releases = [release for _, _, release in load.answers if release]  # /ping's answers
    assert releases[0] == previous
    assert releases[-10:] == [revision] * 10
    assert len(load.answers) > 100
