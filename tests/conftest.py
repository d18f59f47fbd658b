"""Fixtures for tests that run against the real test stack (`make test`).

The stack (deploy/stack.py, profile test) is started fresh before pytest
runs, on its own ports and in var/test, so tests use its databases directly:
no per-test database is created, and tests make their own unique data.
"""

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import pytest
import redis
import requests
from django.db import connections

from deploy.localstack import base
from deploy.localstack.profiles import PROFILES, Profile
from deploy.localstack.redis_sentinel import redis_instances
from deploy.localstack.supervisor import supervisorctl

ROOT = base.ROOT

T = TypeVar("T")


@dataclass(frozen=True)
class Stack:
    """The running test stack: its ports, folders and supervisorctl."""

    profile: Profile

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.profile.nginx}"

    @property
    def cdn(self) -> str:
        return f"http://127.0.0.1:{self.profile.cdn}"

    @property
    def api_tls(self) -> str:
        """The API over HTTPS, by the name its certificate carries."""
        return f"https://localhost:{self.profile.nginx_tls}"

    @property
    def cdn_tls(self) -> str:
        return f"https://localhost:{self.profile.cdn_tls}"

    @property
    def tls_ca(self) -> Path:
        """The stack's own CA (deploy/tls.py), what a client verifies nginx's certificate with."""
        return self.profile.var / "tls" / "ca.pem"

    @property
    def log(self) -> Path:
        return self.profile.var / "log"

    def ctl(self, *args: str) -> str:
        """Run supervisorctl against the test stack; raise if it reports an error."""
        result = supervisorctl(self.profile, *args, check=False)
        if result.returncode != 0 or "ERROR" in result.stdout:
            raise AssertionError(f"supervisorctl {' '.join(args)}: {result.stdout}")
        return result.stdout

    @contextmanager
    def stopped(self, *programs: str) -> Iterator[None]:
        """Stop `programs` for the duration of the block, then start them again."""
        self.ctl("stop", *programs)
        try:
            yield
        finally:
            self.start(*programs)
            self.restore_redis_roles(*programs)

    @contextmanager
    def black_holed(self, program: str) -> Iterator[None]:
        """SIGSTOP `program` for the block: its port still accepts (the kernel's backlog), nothing answers."""
        pid = int(self.ctl("pid", program).strip())
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)
            self.restore_redis_roles(program)

    def restore_redis_roles(self, *programs: str, timeout: float = 60) -> None:
        """Put each Redis instance's primary back where the stack's files have it, if Sentinel moved it.

        A Redis primary down longer than Sentinel's down-after (2 s) has its
        replica promoted; started again, it is made a replica. Later tests
        (and backups, which name the programs) expect the original roles, so
        once it streams from the new primary it is promoted back with
        SENTINEL FAILOVER.
        """
        if not any(program.startswith("redis") for program in programs):
            return
        sentinels = [redis.Redis(port=port, socket_timeout=2) for port in self.profile.redis_sentinels]

        def primary_port(name: str) -> int | None:
            for sentinel in sentinels:
                try:
                    address = sentinel.execute_command(  # type: ignore[no-untyped-call]
                        "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name, parse=False
                    )
                except redis.RedisError:
                    continue
                return None if not address else int(address[1])
            return None

        def primary_is(name: str, port: int) -> bool:
            return primary_port(name) == port

        def streaming(port: int) -> bool:
            try:
                info = redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=1).info("replication")
            except redis.RedisError:
                return False
            return info.get("role") == "slave" and info.get("master_link_status") == "up"

        def failed_over(name: str) -> bool:
            try:  # refused while Sentinel still settles (INPROG, NOGOODSLAVE): ask again
                return bool(sentinels[0].execute_command("SENTINEL", "FAILOVER", name))  # type: ignore[no-untyped-call]
            except redis.ResponseError:
                return False

        def follow(port: int, primary: int) -> None:
            # What Sentinel does to a returning or demoted primary, about ten seconds later.
            if not streaming(port):
                redis.Redis(port=port, socket_timeout=2).replicaof("127.0.0.1", primary)

        for instance in redis_instances(self.profile):
            current = wait_for(partial(primary_port, instance.name), timeout=timeout, interval=0.2)
            if current != instance.port:
                wait_for(partial(self.program_running, instance.program), timeout=timeout, interval=0.2)
                follow(instance.port, current)
                wait_for(partial(streaming, instance.port), timeout=timeout, interval=0.2)
                wait_for(partial(failed_over, instance.name), timeout=timeout, interval=1)
                wait_for(partial(primary_is, instance.name, instance.port), timeout=timeout, interval=0.2)
            follow(instance.replica_port, instance.port)
            wait_for(partial(streaming, instance.replica_port), timeout=timeout, interval=0.2)

    def program_running(self, program: str) -> bool:
        return "RUNNING" in supervisorctl(self.profile, "status", program, check=False).stdout

    def start(self, *programs: str) -> None:
        """Start `programs` unless they already run."""
        result = supervisorctl(self.profile, "start", *programs, check=False)
        errors = [ln for ln in result.stdout.splitlines() if "ERROR" in ln and "already started" not in ln]
        if errors:
            raise AssertionError(f"supervisorctl start {' '.join(programs)}: {result.stdout}")


def wait_for(probe: Callable[[], T | None], *, timeout: float = 15.0, interval: float = 0.05) -> T:
    """Poll `probe` until it returns something other than None or False; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {probe}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def stack() -> Stack:
    name = os.environ.get("IG_ENVIRONMENT", "")
    if name != "test" and not name.startswith("test-"):
        pytest.exit("run the suite with `make test` (or `make pytest` against a running test stack)", 2)
    return Stack(profile=PROFILES[name])


@pytest.fixture(autouse=True, scope="session")
def _real_databases(django_db_blocker: pytest.FixtureRequest) -> Iterator[None]:
    # The test stack's databases are throwaway, so tests use them as they are.
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        yield


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def wait_until_serving(stack: Stack, http: requests.Session, *, timeout: float = 60.0) -> None:
    """Wait until every app server answers on its own port and /health is green ten times in a row.

    Each app server on its own port first: nginx skips one it marked down
    (for fail_timeout), so /health through nginx alone can be green while the
    next request is sent to a server still booting. Ten green answers in a
    row, so that every app process, not only the first to answer, has
    reconnected to whatever an earlier test restarted.
    """
    direct = [f"http://127.0.0.1:{port}/ping" for port in stack.profile.apps]

    def all_green() -> bool:
        try:  # a cold app server (just restarted) can take longer than that on a loaded machine
            return all(http.get(url, timeout=10).status_code == 200 for url in direct) and all(
                http.get(f"{stack.api}/health", timeout=10).status_code == 200 for _ in range(10)
            )
        except requests.RequestException:
            return False

    wait_for(all_green, timeout=timeout, interval=0.5)


@pytest.fixture
def healthy_stack(stack: Stack, http: requests.Session) -> Stack:
    """The stack, once every component is up again (after a disruptive test)."""
    wait_until_serving(stack, http)
    # An earlier test may have restarted pgbouncer or PostgreSQL under this
    # process's pooled connections: start from fresh ones.
    connections.close_all()
    return stack


@pytest.fixture
def signup(healthy_stack: Stack, http: requests.Session):  # type: ignore[no-untyped-def]
    """Make accounts through the real sign-up endpoint: signup("alice"), signup("carol", private=True)."""
    from tests.v1 import Account, sign_up

    def make(prefix: str, *, private: bool = False) -> Account:
        account = sign_up(healthy_stack.api, http, prefix=prefix)
        if private:
            response = account.post("accounts/edit", is_private="true")
            assert response.status_code == 200, response.text
        return account

    return make
