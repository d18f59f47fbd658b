"""Issue 17, step 3 on the fleet: the Redis primary killed under load, Sentinel promotes.

`fab setup` runs three Sentinels (redis1, replica1, worker1; quorum 2)
watching the main instance, redis1's Redis, with replica1's as its replica;
the apps and workers find the primary through them (REDIS_SENTINELS, which
`fab setup` writes from the inventory). Under a steady load through the lb
(feed reads, comments as writes, /ping), redis1's redis-server is SIGKILLed.
Its service manager does not start it again (deploy/fleet/services.py,
redis_start_script: a crashed primary must not come back with its last
snapshot before the Sentinels have promoted its replica), so the kill stays
a kill without the test stopping anything first. Then:

- the Sentinels call it down after SENTINEL_DOWN_AFTER_MS and promote replica1;
- the apps follow with no restart: feeds serve again, with every post (a
  feed the promoted replica lacks is rebuilt from PostgreSQL), and writes
  are acknowledged again;
- requests fail only between the kill and the follow, every failure an
  enveloped 503; no acknowledged write is lost;
- `fab setup` run again (what an operator does after a failover) starts
  redis1's Redis as a replica of replica1, the primary the Sentinels name,
  restarts nothing else, and /health is green; a further `fab setup`
  changes nothing at all.

The seconds from the kill to the promotion and to feeds served again are
printed and written to var/fleet-<n>-figures.json; the waits are bounds, not
assertions of speed.
"""

import os
import signal
import threading
import time
from collections.abc import Callable

import pytest
import redis
import requests

from deploy.fleet.services import SENTINEL_DOWN_AFTER_MS
from tests.fleet.fleet import FEED_SHARDS, REDIS_PASSWORD, SENTINEL_PASSWORD, Fleet
from tests.fleet.load import Load, load_fixture, record, session, wait_until
from tests.fleet.test_fleet import SERVICE_HOSTS, supervised_pids
from tests.photos.images import jpeg
from tests.v1 import Account, sign_up

pytestmark = [pytest.mark.fleet, pytest.mark.timeout(900)]

SENTINEL_HOSTS = ("redis1", "replica1", "worker1")
SENTINEL_PORT = 26379
REDIS_PORT = 6379
LOGICAL_SHARDS = 16  # the fleet's settings (fleet.py)
BOUND = 90.0  # seconds any one step may take before the test gives up on it
READERS = 2


def sentinel_primary(fleet: Fleet, host: str, name: str = "main") -> str | None:
    """Instance `name`'s primary (address:port) as the Sentinel on `host` names it (given its password)."""
    client = redis.Redis(
        host=fleet.address(host),
        port=SENTINEL_PORT,
        password=SENTINEL_PASSWORD,
        socket_timeout=2,
        socket_connect_timeout=2,
    )
    try:
        answer = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)  # type: ignore[no-untyped-call]
    finally:
        client.close()
    return f"{answer[0].decode()}:{int(answer[1])}" if answer else None


def sentinels_agree(fleet: Fleet, address: str, name: str = "main") -> bool:
    return all(sentinel_primary(fleet, host, name) == address for host in SENTINEL_HOSTS)


def replication(fleet: Fleet, host: str, port: int = REDIS_PORT) -> dict[str, object]:
    """INFO replication of `host`'s Redis on `port` (the main instance's, or a feed shard's)."""
    client = redis.Redis(
        host=fleet.address(host),
        port=port,
        password=REDIS_PASSWORD,
        socket_timeout=2,
        socket_connect_timeout=2,
    )
    try:
        info: dict[str, object] = client.info("replication")
    finally:
        client.close()
    return info


def test_redis_takes_no_command_without_the_password(deployed: Fleet) -> None:
    """Redis listens on the hosts' addresses behind a password (REDIS_URL's), not protected mode off."""
    client = redis.Redis(host=deployed.address("redis1"), port=REDIS_PORT, socket_timeout=2)
    try:
        with pytest.raises(redis.AuthenticationError):
            client.ping()
    finally:
        client.close()
    assert replication(deployed, "replica1")["master_link_status"] == "up"


def test_a_sentinel_takes_no_question_without_its_password(deployed: Fleet) -> None:
    """The Sentinels require REDIS_SENTINEL_PASSWORD: without it, no lookup and no failover."""
    for password in (None, REDIS_PASSWORD):
        client = redis.Redis(
            host=deployed.address("redis1"), port=SENTINEL_PORT, password=password, socket_timeout=2
        )
        try:
            with pytest.raises(redis.AuthenticationError):
                client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "main")  # type: ignore[no-untyped-call]
            with pytest.raises(redis.AuthenticationError):
                client.execute_command("SENTINEL", "FAILOVER", "feed-0")  # type: ignore[no-untyped-call]
        finally:
            client.close()
    # With it, every Sentinel names every instance's primary (the redis start scripts asked so).
    for name in ("main", "feed-0", "feed-1"):
        assert all(sentinel_primary(deployed, host, name) for host in SENTINEL_HOSTS), name


def feed(account: Account) -> list[str]:
    return [media["id"] for media in account.data("users/self/feed", count=50)]


class FeedLoad(Load):
    """The fleet's load with feed reads: each reader thread asks a follower's feed.

    Each request's sending time is kept per thread, so a failure is placed by
    when it was sent (Load records when its answer came).
    """

    def start_feeds(self, owner: Account, readers: list[Account]) -> None:
        self.readers_accounts = readers
        self.sent = threading.local()
        self.feeds_served: list[float] = []  # when each 200 feed read came back
        self.failures_sent: list[tuple[float, float, str, str]] = []  # (sent, answered, kind, what)
        self.reads = 0
        self.start(owner)

    def read(self, http: requests.Session) -> requests.Response:
        self.sent.at = time.monotonic()
        with self.lock:
            self.reads += 1
            reader = self.readers_accounts[self.reads % len(self.readers_accounts)]
        self.sent.reader = reader
        response = http.get(
            f"{self.fleet.lb}/v1/users/self/feed", params={"access_token": reader.token}, timeout=90
        )
        if response.status_code == 200:
            with self.lock:
                self.feeds_served.append(time.monotonic())
        return response

    def write(self, http: requests.Session) -> requests.Response:
        self.sent.at, self.sent.reader = time.monotonic(), None
        return super().write(http)

    def ping(self, http: requests.Session) -> requests.Response:
        self.sent.at, self.sent.reader = time.monotonic(), None
        return super().ping(http)

    def note_failure(
        self, request: Callable[[requests.Session], requests.Response], what: str, sent: float
    ) -> None:
        super().note_failure(request, what, sent)
        with self.lock:
            at, kind, _ = self.failures[-1]
            self.failures_sent.append((sent, at, kind, what))


def test_the_redis_primary_killed_under_load_sentinel_promotes_and_feeds_keep_serving(
    deployed: Fleet,
) -> None:
    fleet = deployed
    redis1 = f"{fleet.address('redis1')}:{REDIS_PORT}"
    replica1 = f"{fleet.address('replica1')}:{REDIS_PORT}"
    # As `fab setup` left it: the Sentinels watch redis1, replica1 follows it.
    assert sentinels_agree(fleet, redis1), [sentinel_primary(fleet, h) for h in SENTINEL_HOSTS]
    assert replication(fleet, "replica1")["master_host"] == fleet.address("redis1")

    base, owner = load_fixture(fleet)
    assert isinstance(owner, Account)
    load = FeedLoad(fleet=fleet, media=base.media, readers=2)
    http = session()
    readers = [sign_up(fleet.lb, http, prefix="feedreader") for _ in range(READERS)]
    for reader in readers:
        feed(reader)  # opened once: its feed is built, and fan-out writes to it
        response = reader.post(f"users/{owner.id}/relationship", action="follow")
        assert response.status_code == 200, response.text
    before = owner.post_photo(jpeg(200, 200), caption="before the kill")["id"]
    wait_until(
        lambda: all(before in feed(r) for r in readers),
        timeout=BOUND,
        what="the post before the kill in every follower's feed",
        fleet=fleet,
    )

    pids = {host: supervised_pids(fleet, host) for host in SERVICE_HOSTS}
    load.start_feeds(owner, readers)
    try:
        wait_until(lambda: len(load.feeds_served) > 20, timeout=BOUND, what="feeds served", fleet=fleet)
        # SIGKILL, as a crash would: supervisord does not start it again (autorestart = false).
        killed = time.monotonic()
        os.kill(int(pids["redis1"]["instagram-redis"]), signal.SIGKILL)

        wait_until(
            lambda: sentinels_agree(fleet, replica1),
            timeout=BOUND,
            what="the Sentinels promoting replica1's Redis",
            fleet=fleet,
        )
        promoted = time.monotonic()
        assert replication(fleet, "replica1")["role"] == "master"

        def served_since(moment: float) -> bool:
            with load.lock:
                return any(at > moment for at in load.feeds_served)

        wait_until(lambda: served_since(promoted), timeout=BOUND, what="a feed served again", fleet=fleet)
        followed = time.monotonic()
        with load.lock:
            acknowledged_at_follow = len(load.acknowledged)
        wait_until(
            lambda: len(load.acknowledged) > acknowledged_at_follow,
            timeout=BOUND,
            what="a write acknowledged after the promotion",
            fleet=fleet,
        )
        # Fan-out lands on the new primary; feeds hold the posts from before and after.
        after = owner.post_photo(jpeg(200, 200), caption="after the promotion")["id"]
        wait_until(
            lambda: all({before, after} <= set(feed(r)) for r in readers),
            timeout=BOUND,
            what="both posts in every follower's feed",
            fleet=fleet,
        )
        time.sleep(3)  # steady load on the new primary
    finally:
        load.finish()
    lost = load.lost(owner)
    figures = load.figures(
        lost_writes=len(lost),
        down_after_seconds=SENTINEL_DOWN_AFTER_MS / 1000,
        kill_to_promotion_seconds=round(promoted - killed, 1),
        kill_to_feeds_serving_seconds=round(followed - killed, 1),
        feed_reads_served=len(load.feeds_served),
    )
    record(fleet, "redis_failover", figures)

    assert lost == []
    # Failures only between the kill and the follow: answered after the kill, sent before the
    # first feed the new primary served; each an enveloped 503 (a Redis refused, not a crash).
    late = [(round(s - killed, 2), round(a - killed, 2), k, w) for s, a, k, w in load.failures_sent]
    assert all(a >= killed and s <= followed for s, a, _, _ in load.failures_sent), late
    assert all(what.startswith("503:") and '"meta"' in what for _, _, _, what in load.failures_sent), late
    with load.lock:
        assert any(at > followed for at in load.feeds_served)
        assert len(load.answers) > 100

    # redis1 back, as an operator would: `fab setup` again. It starts redis1's Redis as a replica of
    # the primary the Sentinels name (redis_start_script), restarts nothing else, and leaves the
    # Sentinels' own files alone (they still name replica1).
    again = fleet.fab("setup", "--env", str(fleet.env_file))
    assert "[redis1] instagram-redis started (it was stopped)" in again.stdout
    for host in SERVICE_HOSTS:
        if host != "redis1":
            assert f"[{host}] services: unchanged" in again.stdout
    for word in ("restarted", "created", "initdb", "installing"):
        assert word not in again.stdout, again.stdout
    now = {host: supervised_pids(fleet, host) for host in SERVICE_HOSTS}
    assert now["redis1"]["instagram-sentinel"] == pids["redis1"]["instagram-sentinel"]
    assert {h: p for h, p in now.items() if h != "redis1"} == {h: p for h, p in pids.items() if h != "redis1"}
    log = (fleet.root("redis1") / "shared" / "services" / "log" / "redis.log").read_text()
    assert f"redis-start: replicaof {replica1.replace(':', ' ')}" in log

    def rejoined() -> bool:
        info = replication(fleet, "redis1")
        return (
            info["role"] == "slave"
            and info["master_host"] == fleet.address("replica1")
            and info["master_link_status"] == "up"
        )

    wait_until(rejoined, timeout=BOUND, what="redis1 a replica of replica1", fleet=fleet)
    assert sentinels_agree(fleet, replica1)

    def health() -> dict[str, object] | None:
        report: dict[str, object] = http.get(f"{fleet.lb}/health", timeout=15).json()
        components = report["components"]
        assert isinstance(components, dict)
        replicas = components["redis"].get("connected_replicas")
        return report if report["status"] == "up" and replicas == 1 else None

    report = wait_until(health, timeout=BOUND, what="/health up with redis1 replicating", fleet=fleet)
    assert isinstance(report, dict)
    components = report["components"]
    assert components["redis"]["role"] == "master"
    assert components["redis_replica"]["status"] == "up"
    # Feeds still hold every post, from the new primary.
    assert all({before, after} <= set(feed(r)) for r in readers)

    # And once more: the Sentinels have rewritten their files through the failover and the
    # rejoin, the roles are the inventory's reversed; `fab setup` still changes nothing.
    pids = {host: supervised_pids(fleet, host) for host in SERVICE_HOSTS}
    last = fleet.fab("setup", "--env", str(fleet.env_file))
    for host in SERVICE_HOSTS:
        assert f"[{host}] services: unchanged" in last.stdout
    for word in ("started", "created", "restarted", "initdb", "installing"):
        assert word not in last.stdout, last.stdout
    assert {host: supervised_pids(fleet, host) for host in SERVICE_HOSTS} == pids
    assert sentinels_agree(fleet, replica1)


FEED_PORT = 6380  # feed shard i on 6380 + i (deploy/fleet/inventory.py, redis_feed_port)


def feed_shard_of(account: Account) -> int:
    """The feed shard of `account`'s feed: its logical shard modulo the shards (instagram/redis_client.py)."""
    return int(account.id) % LOGICAL_SHARDS % FEED_SHARDS


class ShardedFeedLoad(FeedLoad):
    """FeedLoad that also says, for each failed feed read, whose feed shard it asked."""

    def start_feeds(self, owner: Account, readers: list[Account]) -> None:
        self.failed_shards: list[int | None] = []  # per failure: the reader's feed shard (None: not a read)
        super().start_feeds(owner, readers)

    def note_failure(
        self, request: Callable[[requests.Session], requests.Response], what: str, sent: float
    ) -> None:
        super().note_failure(request, what, sent)
        with self.lock:
            reader = getattr(self.sent, "reader", None)
            self.failed_shards.append(None if reader is None else feed_shard_of(reader))


def test_a_feed_shards_primary_killed_under_load_sentinel_promotes_it_and_the_other_shards_keep_serving(
    deployed: Fleet,
) -> None:
    """Feed shard 1's primary SIGKILLed under load: Sentinel promotes its replica on the other redis
    host as `feed-1`; the readers of that shard are served again, their feeds rebuilt from
    PostgreSQL where the replica lacked them; the main instance and feed shard 0 never move and
    their readers see no failure; no acknowledged write is lost. `fab setup` brings the killed one
    back as the new primary's replica and restarts nothing else.

    Where feed-1's primary is depends on what ran before: replica1:6381 as `fab setup` made it,
    redis1:6381 after the PostgreSQL module cut replica1 off the network (the Sentinels moved
    feed-1 then, and made the returning instance its replica)."""
    fleet = deployed
    port = FEED_PORT + 1
    killed_address = sentinel_primary(fleet, "redis1", "feed-1")
    hosts = {f"{fleet.address(h)}:{port}": h for h in ("redis1", "replica1")}
    assert killed_address in hosts, killed_address
    victim = hosts[killed_address]
    survivor = "redis1" if victim == "replica1" else "replica1"
    promoted_address = f"{fleet.address(survivor)}:{port}"
    assert sentinels_agree(fleet, killed_address, "feed-1"), [
        sentinel_primary(fleet, h, "feed-1") for h in SENTINEL_HOSTS
    ]
    untouched = {name: sentinel_primary(fleet, "redis1", name) for name in ("main", "feed-0")}
    wait_until(
        lambda: replication(fleet, survivor, port)["master_link_status"] == "up",
        timeout=BOUND,
        what=f"{survivor}'s feed-1 instance replicating",
        fleet=fleet,
    )

    base, owner = load_fixture(fleet)
    assert isinstance(owner, Account)
    http = session()
    # Readers on both feed shards (a sign-up lands on either): a few tries at most.
    readers: list[Account] = []
    for _ in range(12):
        reader = sign_up(fleet.lb, http, prefix="shardreader")
        if sum(feed_shard_of(r) == feed_shard_of(reader) for r in readers) < 2:
            readers.append(reader)
        if {feed_shard_of(r) for r in readers} == {0, 1} and len(readers) >= 3:
            break
    assert {feed_shard_of(r) for r in readers} == {0, 1}, [r.id for r in readers]
    for reader in readers:
        feed(reader)
        response = reader.post(f"users/{owner.id}/relationship", action="follow")
        assert response.status_code == 200, response.text
    before = owner.post_photo(jpeg(200, 200), caption="before the feed shard's kill")["id"]
    wait_until(
        lambda: all(before in feed(r) for r in readers),
        timeout=BOUND,
        what="the post in every follower's feed",
        fleet=fleet,
    )

    pids = {host: supervised_pids(fleet, host) for host in SERVICE_HOSTS}
    load = ShardedFeedLoad(fleet=fleet, media=base.media, readers=2)
    load.start_feeds(owner, readers)
    try:
        wait_until(lambda: len(load.feeds_served) > 20, timeout=BOUND, what="feeds served", fleet=fleet)
        killed = time.monotonic()
        os.kill(int(pids[victim]["instagram-redis-feed-1"]), signal.SIGKILL)
        wait_until(
            lambda: sentinels_agree(fleet, promoted_address, "feed-1"),
            timeout=BOUND,
            what=f"the Sentinels promoting {survivor}'s feed-1 instance",
            fleet=fleet,
        )
        promoted = time.monotonic()
        assert replication(fleet, survivor, port)["role"] == "master"

        def shard_1_served_since(moment: float) -> bool:
            served = all(
                r.get("users/self/feed", count=50).status_code == 200
                for r in readers
                if feed_shard_of(r) == 1
            )
            with load.lock:
                return served and any(at > moment for at in load.feeds_served)

        wait_until(
            lambda: shard_1_served_since(promoted), timeout=BOUND, what="feed-1's feeds served", fleet=fleet
        )
        followed = time.monotonic()
        after = owner.post_photo(jpeg(200, 200), caption="after feed-1's promotion")["id"]
        wait_until(
            lambda: all({before, after} <= set(feed(r)) for r in readers),
            timeout=BOUND,
            what="both posts in every follower's feed",
            fleet=fleet,
        )
        time.sleep(2)
    finally:
        load.finish()
    lost = load.lost(owner)
    figures = load.figures(
        lost_writes=len(lost),
        feed_shards=FEED_SHARDS,
        killed=f"feed-1 on {victim}",
        down_after_seconds=SENTINEL_DOWN_AFTER_MS / 1000,
        kill_to_promotion_seconds=round(promoted - killed, 1),
        kill_to_feeds_serving_seconds=round(followed - killed, 1),
        feed_reads_served=len(load.feeds_served),
        failed_reads_of_the_other_shard=sum(shard == 0 for shard in load.failed_shards),
    )
    record(fleet, "redis_feed_shard_failover", figures)

    assert lost == []
    late = [(round(s - killed, 2), round(a - killed, 2), k, w) for s, a, k, w in load.failures_sent]
    assert all(a >= killed and s <= followed for s, a, _, _ in load.failures_sent), late
    assert all(what.startswith("503:") and '"meta"' in what for _, _, _, what in load.failures_sent), late
    # The other shard and the main instance: never moved, their readers never failed.
    assert 0 not in load.failed_shards, late
    assert {name: sentinel_primary(fleet, "redis1", name) for name in ("main", "feed-0")} == untouched
    with load.lock:
        assert len(load.answers) > 50

    again = fleet.fab("setup", "--env", str(fleet.env_file))
    assert f"[{victim}] instagram-redis-feed-1 started (it was stopped)" in again.stdout
    for host in SERVICE_HOSTS:
        if host != victim:
            assert f"[{host}] services: unchanged" in again.stdout
    for word in ("restarted", "created", "initdb", "installing"):
        assert word not in again.stdout, again.stdout
    now = {host: supervised_pids(fleet, host) for host in SERVICE_HOSTS}
    assert {k: v for k, v in now[victim].items() if k != "instagram-redis-feed-1"} == {
        k: v for k, v in pids[victim].items() if k != "instagram-redis-feed-1"
    }
    assert {h: p for h, p in now.items() if h != victim} == {h: p for h, p in pids.items() if h != victim}
    log = (fleet.root(victim) / "shared" / "services" / "log" / "redis-feed-1.log").read_text()
    assert f"redis-start: replicaof {promoted_address.replace(':', ' ')}" in log

    def health() -> dict[str, object] | None:
        report: dict[str, object] = http.get(f"{fleet.lb}/health", timeout=15).json()
        components = report["components"]
        assert isinstance(components, dict)
        replicas = components["redis_feed_1"].get("connected_replicas")
        return report if report["status"] == "up" and replicas == 1 else None

    report = wait_until(health, timeout=BOUND, what="/health up with feed-1 replicated again", fleet=fleet)
    assert isinstance(report, dict)
    components = report["components"]
    assert components["redis_feed_1"]["port"] == port
    assert components["redis_feed_1_replica"]["status"] == "up"
    assert sentinels_agree(fleet, promoted_address, "feed-1")
    assert all({before, after} <= set(feed(r)) for r in readers)
