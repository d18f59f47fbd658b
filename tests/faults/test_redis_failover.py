"""Sentinel's automatic promotion, end to end: a feed shard's Redis primary is
SIGKILLed under a steady read load through nginx. The three Sentinels promote
its replica with no operator, the app servers and workers find the new
primary through Sentinel, and every feed serves again with every post in it
(a feed the promoted replica lacks is rebuilt from PostgreSQL). Readers
whose feeds live on the other shard never notice.

The bound: Sentinel calls a primary down after SENTINEL_DOWN_AFTER_MS
(2 s, deploy/stack.py), elects a leader and promotes in about a second more;
the app follows on its next connection. The test allows FOLLOW_BOUND seconds
from the kill to the first feed served again by the new primary, and prints
what it measured. Afterwards the old primary is started again (Sentinel makes
it a replica) and promoted back, so later tests find the stack as it was.
"""

import os
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
import requests
from redis.sentinel import MasterNotFoundError

from instagram.redis_client import feed_index_of_user, feed_primary, feed_service, sentinel
from tests.conftest import Stack, wait_for, wait_until_serving
from tests.feeds.test_feed import feed, follow, opened, post
from tests.v1 import Account

pytestmark = pytest.mark.disruptive

FOLLOW_BOUND = 30.0  # seconds from the kill to feeds served by the promoted replica
LOAD_SECONDS_MAX = 45.0  # the load stops by then whatever happens
READERS_PER_SHARD = 2
SIGNUPS_MAX = 16


@dataclass
class Load:
    """Feed reads through nginx from a few threads; each answer with its time."""

    api: str
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: list[tuple[float, int, int]] = field(default_factory=list)  # (sent, monotonic; shard, status)
    bad: list[str] = field(default_factory=list)

    def read(self, reader: Account, shard: int) -> None:
        session = requests.Session()
        deadline = time.monotonic() + LOAD_SECONDS_MAX
        while not self.stop.is_set() and time.monotonic() < deadline:
            sent = time.monotonic()
            try:
                response = session.get(
                    f"{self.api}/v1/users/self/feed", params={"access_token": reader.token}, timeout=10
                )
                status = response.status_code
                if "Traceback" in response.text or (status >= 500 and status != 503):
                    with self.lock:
                        self.bad.append(f"{status} {response.text[:200]}")
            except requests.RequestException:
                status = 0
            with self.lock:
                self.answers.append((sent, shard, status))
            time.sleep(0.05)  # about 15 requests a second a thread: steady, not a flood


def primary_port(name: str) -> int | None:
    """Return the port of `name`'s primary as the Sentinels see it; None while they call it down."""
    found = sentinel()
    assert found is not None, "the stack runs Sentinels (REDIS_SENTINELS)"
    try:
        return int(found.discover_master(name)[1])  # type: ignore[no-untyped-call]
    except MasterNotFoundError:
        return None


def readers_by_shard(signup: Any) -> dict[int, list[Account]]:
    """Sign up until each feed shard has READERS_PER_SHARD readers (ids fall on shards by range)."""
    found: dict[int, list[Account]] = {0: [], 1: []}
    for _ in range(SIGNUPS_MAX):
        account = signup("fo_reader")
        mine = found[feed_index_of_user(int(account.id))]
        if len(mine) < READERS_PER_SHARD:
            mine.append(account)
        if all(len(accounts) == READERS_PER_SHARD for accounts in found.values()):
            return found
    pytest.fail(f"{SIGNUPS_MAX} sign-ups did not give {READERS_PER_SHARD} readers on each feed shard")


def test_sentinel_promotes_a_killed_feed_primary_and_feeds_keep_serving(
    stack: Stack, signup: Any, http: requests.Session
) -> None:
    victim, name = "redis-feed-0", feed_service(0)
    old_port, replica_port = stack.profile.redis_feeds[0], stack.profile.redis_feed_replicas[0]
    assert primary_port(name) == old_port
    readers = readers_by_shard(signup)
    # The author's own feed shard stays up, so the upload itself is not refused.
    author = next(
        a for a in (signup("fo_author") for _ in range(SIGNUPS_MAX)) if feed_index_of_user(int(a.id)) == 1
    )
    everyone = [r for shard in readers.values() for r in shard]
    opened(*everyone)
    for reader in everyone:
        follow(reader, author)
    before = post(author, "before the failover")
    wait_for(lambda: all(before in feed(r) for r in everyone), timeout=30)

    load = Load(stack.api)
    threads = [
        threading.Thread(target=load.read, args=(reader, shard), daemon=True)
        for shard, shard_readers in readers.items()
        for reader in shard_readers
    ]
    for thread in threads:
        thread.start()
    try:
        time.sleep(2)  # a steady state first
        pid = int(stack.ctl("pid", victim).strip())
        killed = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        during = post(author, "while the primary is dead")

        wait_for(lambda: primary_port(name) == replica_port, timeout=FOLLOW_BOUND, interval=0.1)
        promoted = time.monotonic()

        def served_after_promotion() -> bool:
            with load.lock:
                return any(t > promoted and shard == 0 and status == 200 for t, shard, status in load.answers)

        wait_for(served_after_promotion, timeout=max(0.1, FOLLOW_BOUND - (promoted - killed)), interval=0.1)
        followed = time.monotonic()
        # Feeds keep serving: every reader sees both posts, whatever the promoted replica held.
        wait_for(lambda: all({before, during} <= set(feed(r)) for r in everyone), timeout=30, interval=0.5)
        time.sleep(1)  # a second of steady reads on the new primary
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(timeout=15)
        # Started again, Sentinel makes it a replica; then it is promoted back, as the stack was.
        stack.start(victim)
        stack.restore_redis_roles(victim)
        wait_until_serving(stack, http, timeout=90)

    shard0 = [(t, status) for t, shard, status in load.answers if shard == 0]
    shard1 = [status for _, shard, status in load.answers if shard == 1]
    failed = [t for t, status in shard0 if status != 200]
    last_failure = max(failed, default=killed) - killed
    print(
        f"\nredis failover: {len(load.answers)} feed reads; feed shard 0: {len(shard0)} "
        f"({Counter(status for _, status in shard0)}), feed shard 1: {len(shard1)} ({Counter(shard1)}); "
        f"promoted {promoted - killed:.2f}s after the kill, app served feed shard 0 again after "
        f"{followed - killed:.2f}s, last failed read {last_failure:.2f}s after the kill "
        f"(bound {FOLLOW_BOUND:.0f}s)"
    )
    assert not load.bad, load.bad[:5]
    # The other shard's readers did not notice.
    assert shard1
    assert all(status == 200 for status in shard1), Counter(shard1)
    # Failed reads of shard 0 are enveloped 503s (load.bad is empty), sent between the kill (or just
    # before it: in flight when it came) and the app's follow; none before, none after.
    assert all(killed - 1.0 <= t <= followed for t in failed), [round(t - killed, 2) for t in failed]


def test_a_planned_switch_of_a_feed_primary_fails_no_request(stack: Stack, signup: Any) -> None:
    """SENTINEL FAILOVER (a planned switch, or the old primary coming back as a replica): the app
    servers' pooled connections to the demoted primary get READONLY, are dropped and their command
    is sent again to the new primary, so no request fails, not even the first one after the switch."""
    name, old_port = feed_service(1), stack.profile.redis_feeds[1]
    new_port = stack.profile.redis_feed_replicas[1]
    assert primary_port(name) == old_port
    readers = readers_by_shard(signup)[1]
    client = feed_primary(1)
    key = f"test:planned-switch:{os.getpid()}"
    client.set(key, "before")  # this process's pooled connection: to the old primary
    opened(*readers)
    api = f"http://127.0.0.1:{stack.profile.nginx}/v1"
    session = requests.Session()

    def read_all(times: int) -> list[int]:
        return [
            session.get(f"{api}/users/self/feed", params={"access_token": r.token}, timeout=10).status_code
            for _ in range(times)
            for r in readers
        ]

    assert set(read_all(10)) == {200}  # the app servers' workers hold connections to the old primary too
    sentinels = [redis.Redis(port=port, socket_timeout=2) for port in stack.profile.redis_sentinels]

    def switched() -> bool:
        addresses = [s.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name) for s in sentinels]  # type: ignore[no-untyped-call]
        demoted = redis.Redis(port=old_port, socket_timeout=2).info("replication")["role"] == "slave"
        return demoted and all(int(address[1]) == new_port for address in addresses)

    try:
        sentinels[0].execute_command("SENTINEL", "FAILOVER", name)  # type: ignore[no-untyped-call]
        wait_for(switched, timeout=40, interval=0.2)
        client.set(key, "after")
        assert client.get(key) == b"after"
        assert client.info("server")["tcp_port"] == new_port
        statuses = read_all(10)
        client.delete(key)
    finally:
        stack.restore_redis_roles("redis-feed-1")
    print(f"\nplanned switch of {name}: {Counter(statuses)} feed reads after it")
    assert set(statuses) == {200}, Counter(statuses)
