"""Several memcached and several gearmand servers, as `fab setup` lists them from the inventory.

MEMCACHED_SERVERS and GEARMAN_SERVERS are lists. These tests start two more
of each (Debian's binaries, on free loopback ports) and use them with the
settings' own client configuration: memcached keys spread over both servers
(ketama) and a server that goes away costs only its share of the keys; a job
is still queued while one gearmand is down, and a worker connected to both
servers takes jobs from either.
"""

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gearman
import pytest
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import InvalidCacheKey
from django.utils.module_loading import import_string

from tests.ops.sshd import free_port
from workers.transport import BoundedClient

MEMCACHED = shutil.which("memcached") or "/usr/bin/memcached"
GEARMAND = shutil.which("gearmand") or "/usr/sbin/gearmand"


def wait_listening(port: int, *, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port} after {timeout}s")


@contextmanager
def servers(command: list[str], count: int) -> Iterator[list[tuple[int, subprocess.Popen[bytes]]]]:
    """Start `count` servers of `command` (with `{port}` filled in); stop them all at the end."""
    started: list[tuple[int, subprocess.Popen[bytes]]] = []
    try:
        for _ in range(count):
            port = free_port()
            process = subprocess.Popen(
                [part.format(port=port) for part in command],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            started.append((port, process))
            wait_listening(port)
        yield started
    finally:
        for _, process in started:
            process.kill()
            process.wait(timeout=10)


def items_on(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"stats\r\n")
        data = b""
        while not data.endswith(b"END\r\n"):
            data += sock.recv(4096)
    stats = dict(line.split()[1:3] for line in data.decode().splitlines() if line.startswith("STAT "))
    return int(stats["curr_items"])


def test_memcached_keys_spread_over_every_server_and_survive_one_going_away() -> None:
    configured: dict[str, Any] = settings.CACHES["default"]
    assert configured["BACKEND"].endswith("PyLibMCCache")
    user = ["-u", "nobody"] if os.geteuid() == 0 else []  # memcached refuses to run as root
    with servers([MEMCACHED, "-l", "127.0.0.1", "-p", "{port}", "-m", "16", *user], 2) as started:
        ports = [port for port, _ in started]
        cache = import_string(configured["BACKEND"])(
            ",".join(f"127.0.0.1:{p}" for p in ports), {**configured, "OPTIONS": configured["OPTIONS"]}
        )
        keys = [f"spread:{uuid.uuid4().hex}" for _ in range(200)]
        cache.set_many({key: key for key in keys}, timeout=60)
        per_server = [items_on(port) for port in ports]
        assert sum(per_server) == 200
        assert min(per_server) > 40, per_server  # ketama: each server holds a real share
        # One server goes away: no call fails; the first multi-get that meets the dead
        # server misses (the database answers), then libmemcached skips it, so its
        # keys are misses and the other server's are served.
        started[0][1].kill()
        started[0][1].wait(timeout=10)
        cache.get_many(keys)
        found = cache.get_many(keys)
        assert len(found) == per_server[1]
        assert all(found[key] == key for key in found)
        cache.close()


def test_a_kept_memcached_connection_works_at_once_after_memcached_restarts() -> None:
    """An app thread keeps its client between requests: a restart must not cost it a second of misses."""
    configured: dict[str, Any] = settings.CACHES["default"]
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    port = free_port()
    command = [MEMCACHED, "-l", "127.0.0.1", "-p", str(port), "-m", "16", *user]

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening(port)
        return process

    process = start()
    try:
        cache = import_string(configured["BACKEND"])(f"127.0.0.1:{port}", configured)
        cache.set("kept", "before", 60)
        assert cache.get("kept") == "before"
        process.kill()
        process.wait(timeout=10)
        process = start()
        # The kept connection is the one memcached closed: the call goes to a
        # fresh connection instead of failing (libmemcached alone would refuse
        # every call for its retry timeout).
        assert cache.get("kept") is None  # a new, empty memcached
        cache.set("kept", "after", 60)
        assert cache.get("kept") == "after"
        cache.close()
    finally:
        process.kill()
        process.wait(timeout=10)


def test_a_key_memcached_cannot_carry_is_refused_by_name() -> None:
    cache = caches["default"]
    for key in ("with space", "x" * 300):
        with pytest.raises(InvalidCacheKey, match="memcached"):
            cache.set(key, 1)
    cache.set("fine:key", 1, 5)
    assert cache.get("fine:key") == 1


def test_jobs_reach_a_worker_while_one_gearmand_of_two_is_down() -> None:
    with servers(
        [GEARMAND, "--listen=127.0.0.1", "--port={port}", "--log-file=none", "--threads=1"], 2
    ) as started:
        hosts = [f"127.0.0.1:{port}" for port, _ in started]
        function = f"server_lists_{uuid.uuid4().hex[:8]}"
        # Both up: jobs go to the servers (each client picks one of them at random).
        for n in range(4):
            BoundedClient(hosts).submit_job(
                function, f"before {n}", background=True, wait_until_complete=False, poll_timeout=5
            )
        started[0][1].kill()
        started[0][1].wait(timeout=10)
        # One down: a client that was connected to it fails once, and the app then
        # drops it (workers.submit._send; the outbox sends the job again); a fresh
        # client skips the dead server and queues on the live one, every time.
        for n in range(4):
            request = BoundedClient(hosts).submit_job(
                function, f"after {n}", background=True, wait_until_complete=False, poll_timeout=5
            )
            assert not request.timed_out
            assert request.job.connection.gearman_port == started[1][0]
        # A worker that knows both servers takes what the live one holds.
        taken: list[str] = []
        deadline = time.monotonic() + 20

        def after() -> list[str]:
            return sorted(t for t in taken if t.startswith("after"))

        class Worker(gearman.GearmanWorker):  # type: ignore[misc]
            def after_poll(self, any_activity: bool) -> bool:
                return len(after()) < 4 and time.monotonic() < deadline

        def take(_: Any, job: Any) -> str:
            taken.append(job.data.decode() if isinstance(job.data, bytes) else job.data)
            return ""

        worker = Worker(hosts)
        worker.register_task(function.encode(), take)
        worker.work(poll_timeout=0.5)
        assert after() == [f"after {n}" for n in range(4)]
        # What the stopped server held before it stopped is its own (a persistent queue
        # brings it back when it restarts); what the live one held was taken too.
        assert len(taken) >= 4
