"""The PostgreSQL primary killed under a write load: after the failover, every acknowledged write is there."""

import io
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import psycopg
import pytest
import requests
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from deploy.localstack.postgres import MAIN_DB, PG_NODES, pg_port, pg_roles, repmgr
from deploy.localstack.profiles import PROFILES, Profile
from deploy.localstack.supervisor import port_open, supervisorctl
from ops import postgres
from ops.layout import topology
from photos.models import Comment
from sharding.routing import shard_for_id
from tests.conftest import Stack, wait_for
from tests.photos.images import jpeg
from tests.v1 import Account, new_username
from users.models import User

pytestmark = pytest.mark.disruptive


@dataclass
class WriteLoad:
    """Threads writing through nginx until stopped, keeping what the API acknowledged.

    Sign-ups write the main database; comments write the media's shard.
    """

    api: str
    commenter: Account
    media_id: str
    users: list[str] = field(default_factory=list)
    comments: list[int] = field(default_factory=list)
    # (sent, answered) monotonic times of each acknowledged comment.
    comment_times: list[tuple[float, float]] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    # What the test is doing now: failures are counted by phase.
    phase: str = "before the kill"
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self, *, signups: int, commenters: int) -> None:
        writers = [self.sign_up] * signups + [self.comment] * commenters
        self.threads = [threading.Thread(target=self.loop, args=(writer,), daemon=True) for writer in writers]
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in self.threads)

    @property
    def acknowledged(self) -> int:
        with self.lock:
            return len(self.users) + len(self.comments)

    def loop(self, write: Callable[[requests.Session], None]) -> None:
        with requests.Session() as http:
            while not self.stop.is_set():
                try:
                    write(http)
                except requests.RequestException as exc:
                    self.failed(type(exc).__name__)
                    time.sleep(0.1)

    def failed(self, reason: str) -> None:
        with self.lock:
            self.failures[f"{self.phase}: {reason}"] += 1

    def sign_up(self, http: requests.Session) -> None:
        username = new_username("failover")
        # Longer than pgbouncer's query_wait_timeout: a request queued there
        # during the failover is answered, not abandoned by the client.
        response = http.post(
            f"{self.api}/v1/accounts/signup",
            data={"username": username, "password": "kodachrome-64"},
            timeout=45,
        )
        if response.status_code == 200:
            with self.lock:
                self.users.append(username)
        else:
            self.failed(f"signup {response.status_code}")

    def comment(self, http: requests.Session) -> None:
        sent = time.monotonic()
        response = http.post(
            f"{self.api}/v1/media/{self.media_id}/comments",
            params={"access_token": self.commenter.token},
            data={"text": "still here?"},
            timeout=45,
        )
        if response.status_code == 200:
            with self.lock:
                self.comments.append(int(response.json()["data"]["id"]))
                self.comment_times.append((sent, time.monotonic()))
        else:
            self.failed(f"comment {response.status_code}")
            time.sleep(0.1)


def command(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def failover(*args: str) -> str:
    started = time.monotonic()
    return f"{command('failover', *args)}({time.monotonic() - started:.1f}s)"


def all_green(stack: Stack, http: requests.Session) -> bool:
    return all(http.get(f"{stack.api}/health", timeout=10).status_code == 200 for _ in range(5))


@pytest.fixture
def roles_restored(healthy_stack: Stack) -> Iterator[tuple[str, str]]:
    """The (primary, standby) nodes; put back in these roles after the test, whatever happened."""
    p = healthy_stack.profile
    roles = pg_roles(p)
    yield roles
    if pg_roles(p) != roles:
        t = topology()
        if not postgres.is_up(t, roles[0]) or not postgres.in_recovery(t, roles[0]):
            call_command("rebuild_standby", stdout=io.StringIO())
        call_command("failover", "--planned", stdout=io.StringIO())


def test_a_failover_refuses_while_the_primary_answers(roles_restored: tuple[str, str]) -> None:
    with pytest.raises(CommandError, match="answers: not failing over"):
        failover()
    assert pg_roles(PROFILES[settings.ENVIRONMENT]) == roles_restored


def commit(p: Profile, node: str) -> float:
    """Commit one transaction that writes WAL on `node`, straight to it; return the seconds it took."""
    with psycopg.connect(
        host="127.0.0.1",
        port=pg_port(p, node),
        dbname=MAIN_DB,
        user=settings.DB_USER,
        password=settings.DB_PASSWORD,
        autocommit=True,
    ) as conn:
        started = time.monotonic()
        conn.execute("CREATE TEMPORARY TABLE probe (id int)")  # catalog rows: its commit writes WAL
        return time.monotonic() - started


def test_commits_wait_for_the_standby_until_synchronous_replication_is_switched_off(
    healthy_stack: Stack, roles_restored: tuple[str, str]
) -> None:
    p = healthy_stack.profile
    primary, standby = roles_restored
    names = 'ANY 1 ("postgres-primary", "postgres-standby")'  # the nodes' repmgr names
    assert f"commits are synchronous ({names})" in command("sync_replication")
    waits: list[float] = []
    try:
        with healthy_stack.stopped(standby):
            waiting = threading.Thread(target=lambda: waits.append(commit(p, primary)), daemon=True)
            waiting.start()
            waiting.join(timeout=2)
            assert waiting.is_alive(), "a commit did not wait for the stopped standby"
            assert "commits are asynchronous" in command("sync_replication", "off")
            waiting.join(timeout=10)  # released by the change
            assert not waiting.is_alive()
            assert commit(p, primary) < 1
    finally:
        output = command("sync_replication", "on")  # waits for the standby to stream again
    assert len(waits) == 1
    assert waits[0] >= 2
    assert f"commits are synchronous ({names})" in output
    assert f"standby {standby}: streaming, quorum" in output


def test_every_write_acknowledged_is_there_after_the_primary_is_killed_and_after_a_switchover_back(
    healthy_stack: Stack,
    roles_restored: tuple[str, str],
    signup: Callable[..., Account],
    http: requests.Session,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack = healthy_stack
    old, new = roles_restored
    owner, fan = signup("fo_owner"), signup("fo_fan")
    media_id = owner.post_photo(jpeg(320, 320))["id"]
    load = WriteLoad(api=stack.api, commenter=fan, media_id=media_id)
    load.start(signups=2, commenters=2)
    wait_for(lambda: load.acknowledged >= 10, timeout=60)

    load.phase = "killed and failing over"
    # The operator's failover, for when repmgrd does not act (paused here; the
    # next test lets it act): the command must not race it.
    repmgr(stack.profile, old, "service", "pause")
    stack.ctl("signal", "KILL", old)
    # supervisord restarts what dies: stop it for good (the failover fences it too).
    supervisorctl(stack.profile, "stop", old, check=False)
    killed = load.acknowledged
    crash_output = failover()
    assert pg_roles(stack.profile) == (new, old)
    assert not postgres.in_recovery(topology(), new)
    assert postgres.in_recovery(topology(), old)
    failed_over = load.acknowledged
    load.phase = "after the failover"
    wait_for(lambda: load.acknowledged >= failed_over + 10, timeout=60)
    wait_for(lambda: all_green(stack, http), timeout=60, interval=0.5)

    switched = load.acknowledged
    load.phase = "switching over"
    switch_output = failover("--planned")
    assert pg_roles(stack.profile) == (old, new)
    switched_back = load.acknowledged
    load.phase = "after the switchover"
    wait_for(lambda: load.acknowledged >= switched_back + 10, timeout=60)
    load.finish()

    # No request cycle closes this process's connections: one an earlier test
    # left (through a pgbouncer it restarted) would fail the first query.
    connections.close_all()
    users = set(User.objects.filter(username__in=load.users).values_list("username", flat=True))
    with shard_for_id(int(media_id.split("_")[0])):
        comments = set(Comment.objects.filter(id__in=load.comments).values_list("id", flat=True))
    assert (users, comments) == (set(load.users), set(load.comments))
    wait_for(lambda: all_green(stack, http), timeout=60, interval=0.5)
    with capsys.disabled():
        print(
            f"\nPostgreSQL failover under a write load: {len(load.users)} sign-ups and {len(load.comments)} "
            f"comments acknowledged, every one present afterwards: {killed} before the kill, "
            f"{failed_over - killed} during the failover, {switched - failed_over} on {new} as primary, "
            f"{switched_back - switched} during the switchover back, "
            f"{load.acknowledged - switched_back} after. "
            f"Unacknowledged attempts: {dict(load.failures) or 'none'}.\n"
            f"{crash_output}\n{switch_output}"
        )


def repmgr_cluster_show(p: Profile) -> str:
    return repmgr(p, PG_NODES[0], "cluster", "show").stdout


def test_repmgrd_promotes_the_standby_when_the_primary_dies_and_every_acknowledged_comment_survives(
    healthy_stack: Stack,
    roles_restored: tuple[str, str],
    signup: Callable[..., Account],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No operator: repmgrd promotes, its event hook points pgbouncer at the new primary.

    The bound: repmgrd gives up on the primary after 4 reconnect attempts 2 s
    apart (deploy/postgresql/repmgr.conf), then promotes; writes must resume
    within 60 s of the kill (the measured figure is printed).
    """
    stack = healthy_stack
    p = stack.profile
    old, new = roles_restored
    before = repmgr_cluster_show(p)
    assert all(node in before for node in PG_NODES), before
    owner, fan = signup("rm_owner"), signup("rm_fan")
    media_id = owner.post_photo(jpeg(320, 320))["id"]
    load = WriteLoad(api=stack.api, commenter=fan, media_id=media_id)
    load.start(signups=0, commenters=3)
    wait_for(lambda: load.acknowledged >= 10, timeout=60)

    load.phase = "primary killed, repmgrd failing over"
    killed_at, killed = time.monotonic(), load.acknowledged
    stack.ctl("signal", "KILL", old)
    # A dead host: supervisord, which restarts what dies, must not bring this node back.
    supervisorctl(p, "stop", old, check=False)
    wait_for(lambda: not port_open(pg_port(p, old)), timeout=30)
    gone_at = time.monotonic()

    # Nobody runs a command from here: repmgrd promotes, its hook repoints pgbouncer.
    wait_for(lambda: pg_roles(p) == (new, old), timeout=60, interval=0.2)
    assert not postgres.in_recovery(topology(), new)

    def resumed() -> list[float]:
        with load.lock:
            # Sent once the old primary was gone for good: answered by the new one.
            return [answered for sent, answered in load.comment_times if sent > gone_at]

    wait_for(lambda: len(resumed()) >= 1, timeout=60, interval=0.1)
    failover_seconds = min(resumed()) - killed_at
    failed_over = load.acknowledged
    load.phase = "after the automatic failover"
    wait_for(lambda: load.acknowledged >= failed_over + 10, timeout=60)

    # The old primary rejoins as the standby: a fresh clone by repmgr, through the ops command.
    load.phase = "old primary rejoining"
    rejoin = command("rebuild_standby")
    assert postgres.in_recovery(topology(), old)
    after = repmgr_cluster_show(p)
    rejoined = load.acknowledged
    load.phase = "after the rejoin"
    wait_for(lambda: load.acknowledged >= rejoined + 10, timeout=60)
    load.finish()

    connections.close_all()
    with shard_for_id(int(media_id.split("_")[0])):
        found = set(Comment.objects.filter(id__in=load.comments).values_list("id", flat=True))
    lost = set(load.comments) - found
    attempts = load.acknowledged + sum(load.failures.values())
    with capsys.disabled():
        print(
            f"\nrepmgrd automatic failover under a comment load: {attempts} requests, "
            f"{load.acknowledged} acknowledged, lost = {len(lost)}, failover {failover_seconds:.1f} s "
            f"(from the kill of {old} to the first comment acknowledged by {new}; {old} was stopped "
            f"for good {gone_at - killed_at:.1f} s after the kill); {killed} before the kill, "
            f"{failed_over - killed} during the failover, {rejoined - failed_over} before {old} rejoined, "
            f"{load.acknowledged - rejoined} after. Unacknowledged: {dict(load.failures) or 'none'}.\n"
            f"{rejoin}{after}"
        )
    assert lost == set()
    assert cluster_roles(after) == {new: ("primary", "running"), old: ("standby", "running")}


def cluster_roles(shown: str) -> dict[str, tuple[str, str]]:
    """Return {node name: (role, status)} from `repmgr cluster show`'s table."""
    roles = {}
    for line in shown.splitlines():
        columns = [column.strip() for column in line.split("|")]
        if len(columns) > 3 and columns[0].isdigit():
            roles[columns[1]] = (columns[2], columns[3].lstrip("* ").strip())
    return roles
