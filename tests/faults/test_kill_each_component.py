"""The acceptance of issue 13's component failures: a mixed write load through
nginx while Redis primary, memcached, gearmand, pgbouncer, one app server and
one worker are SIGKILLed and restarted (by supervisord) in turn. Afterwards
every acknowledged write is present, every counter equals its rows, every
feed converges, and no response was a 5xx other than an enveloped 503 or
carried a traceback."""

import io
import os
import random
import signal
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
import requests
from django.core.management import call_command

from tests.conftest import Stack, wait_for, wait_until_serving
from tests.photos.images import jpeg
from tests.v1 import Account, sign_up

pytestmark = pytest.mark.disruptive

VICTIMS = ["redis-primary", "memcached", "gearmand", "pgbouncer", "app-1", "worker:worker-0"]
THREADS = 3
SECONDS_PER_VICTIM = 6.0
SEED_ACCOUNTS = 6


@dataclass
class Ledger:
    """What the load sent and what the API acknowledged, shared by the load threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter[str] = field(default_factory=Counter)
    bad: list[str] = field(default_factory=list)  # 5xx that are not enveloped 503s, tracebacks
    signups: list[Account] = field(default_factory=list)
    media: dict[str, Account] = field(default_factory=dict)  # media id -> owner
    follows: set[tuple[str, str]] = field(default_factory=set)  # (follower id, followee id)
    likes: set[tuple[str, str]] = field(default_factory=set)  # (user id, media id)
    comments: set[tuple[str, str]] = field(default_factory=set)  # (media id, comment id)
    # Writes answered 503 (or not at all) by user: one may have committed its
    # shard half and not its main-database counter (see the note below).
    unacknowledged: Counter[str] = field(default_factory=Counter)

    def record(self, op: str, response: requests.Response | None) -> bool:
        """Count the answer; return True when the write was acknowledged (2xx)."""
        with self.lock:
            if response is None:
                self.statuses[f"{op}:transport-error"] += 1
                return False
            self.statuses[str(response.status_code)] += 1
            if "Traceback" in response.text:
                self.bad.append(f"{op}: traceback in {response.status_code}")
            if response.status_code >= 500 and not enveloped_503(response):
                self.bad.append(f"{op}: {response.status_code} {response.text[:200]}")
            return response.status_code < 300


def enveloped_503(response: requests.Response) -> bool:
    try:
        meta = response.json()["meta"]
    except (ValueError, KeyError, TypeError):
        return False
    return response.status_code == 503 and meta.get("code") == 503 and bool(meta.get("error_message"))


def call(request: Any, *args: Any, **kwargs: Any) -> requests.Response | None:
    try:
        response: requests.Response = request(*args, **kwargs)
        return response
    except requests.RequestException:
        return None


def load(stack: Stack, seeds: list[Account], ledger: Ledger, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    with requests.Session() as http:
        accounts = [replace(account, http=http) for account in seeds]
        while not stop.is_set():
            op = rng.choice(["signup", "follow", "upload", "upload", "like", "like", "comment"])
            actor = rng.choice(accounts)
            if op == "signup":
                response = call(
                    http.post,
                    f"{stack.api}/v1/accounts/signup",
                    data={"username": f"flt_{uuid.uuid4().hex[:12]}", "password": "kodachrome-64"},
                    timeout=15,
                )
                if ledger.record(op, response) and response is not None:
                    data = response.json()["data"]
                    ledger.signups.append(
                        Account(
                            stack.api,
                            http,
                            data["access_token"],
                            data["user"]["id"],
                            data["user"]["username"],
                        )
                    )
            elif op == "follow":
                target = rng.choice([a for a in accounts if a.id != actor.id])
                response = call(actor.post, f"users/{target.id}/relationship", action="follow")
                if ledger.record(op, response):
                    ledger.follows.add((actor.id, target.id))
                else:
                    ledger.unacknowledged[actor.id] += 1
                    ledger.unacknowledged[target.id] += 1
            elif op == "upload":
                response = call(actor.upload, jpeg(160, 160, color=(rng.randrange(256), 90, 30)))
                if ledger.record(op, response) and response is not None:
                    ledger.media[response.json()["data"]["id"]] = actor
                else:
                    ledger.unacknowledged[actor.id] += 1
            else:
                with ledger.lock:
                    known = list(ledger.media)
                if not known:
                    continue
                media_id = rng.choice(known)
                if op == "like":
                    response = call(actor.post, f"media/{media_id}/likes")
                    if ledger.record(op, response):
                        ledger.likes.add((actor.id, media_id))
                else:
                    response = call(
                        actor.post, f"media/{media_id}/comments", text=f"under fire {rng.random()}"
                    )
                    if ledger.record(op, response) and response is not None:
                        ledger.comments.add((media_id, response.json()["data"]["id"]))


def kill_and_wait_for_restart(stack: Stack, program: str) -> None:
    """SIGKILL `program` and wait until supervisord has started it again."""
    pid = int(stack.ctl("pid", program).strip())
    os.kill(pid, signal.SIGKILL)

    def restarted() -> bool:
        now = stack.ctl("pid", program).strip()
        return now.isdigit() and int(now) not in (0, pid)

    wait_for(restarted, timeout=30, interval=0.2)


def ids(response: requests.Response) -> set[str]:
    return {str(item["id"]) for item in response.json()["data"]}


def test_acknowledged_writes_survive_each_component_killed_in_turn(
    healthy_stack: Stack, http: requests.Session, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = healthy_stack
    seeds = [sign_up(stack.api, http, prefix="flt") for _ in range(SEED_ACCOUNTS)]
    for account in seeds:
        account.data("users/self/feed")  # built feeds: the fan-out writes them
    ledger = Ledger()
    stop = threading.Event()
    threads = [
        threading.Thread(target=load, args=(stack, seeds, ledger, stop, n), daemon=True)
        for n in range(THREADS)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        for victim in VICTIMS:
            time.sleep(SECONDS_PER_VICTIM / 2)
            kill_and_wait_for_restart(stack, victim)
            time.sleep(SECONDS_PER_VICTIM / 2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    load_seconds = time.monotonic() - started
    wait_until_serving(stack, http, timeout=90)
    # The Redis primary keeps no disk copy (its replica does): after it was
    # killed, the runbook's step is rebuilding the feeds from PostgreSQL.
    call_command("rebuild_feeds", *[account.id for account in seeds], stdout=io.StringIO())

    lost: list[str] = []
    for account in ledger.signups:
        response = account.get("users/self")
        if response.status_code != 200:
            lost.append(f"signup {account.username}: {response.status_code}")
    by_id = {account.id: account for account in seeds}
    for media_id, owner in ledger.media.items():
        response = by_id[owner.id].get(f"media/{media_id}")
        if response.status_code != 200:
            lost.append(f"media {media_id}: {response.status_code}")
    for follower, followee in ledger.follows:
        status = by_id[follower].data(f"users/{followee}/relationship")["outgoing_status"]
        if status != "follows":
            lost.append(f"follow {follower}->{followee}: {status}")
    viewer = seeds[0]
    likers = {media_id: ids(viewer.get(f"media/{media_id}/likes")) for media_id in ledger.media}
    lost += [f"like {user} on {media}" for user, media in ledger.likes if user not in likers[media]]
    comments = {media_id: ids(viewer.get(f"media/{media_id}/comments")) for media_id in ledger.media}
    lost += [
        f"comment {comment} on {media}"
        for media, comment in ledger.comments
        if comment not in comments[media]
    ]

    drift: list[str] = []
    split: list[str] = []
    for media_id in ledger.media:
        media = viewer.data(f"media/{media_id}")
        if media["likes"]["count"] != len(likers[media_id]):
            drift.append(f"media {media_id} likes {media['likes']['count']} != {len(likers[media_id])}")
        if media["comments"]["count"] != len(comments[media_id]):
            drift.append(
                f"media {media_id} comments {media['comments']['count']} != {len(comments[media_id])}"
            )
    for account in seeds:
        counts = viewer.data(f"users/{account.id}")["counts"]
        rows = {
            "media": len(viewer.data(f"users/{account.id}/media/recent", count=100)),
            "follows": len(viewer.data(f"users/{account.id}/follows", count=100)),
            "followed_by": len(viewer.data(f"users/{account.id}/followed-by", count=100)),
        }
        for kind, found in rows.items():
            if counts[kind] == found:
                continue
            # Known gap: the row is on the user's shard, its counter on the main
            # database; a write killed between the two commits (answered 503,
            # never acknowledged) leaves its counter short until verify_counts
            # --repair. Counted and printed, not hidden.
            if 0 < found - counts[kind] <= ledger.unacknowledged[account.id]:
                split.append(f"user {account.id} {kind} {counts[kind]} vs {found} rows")
            else:
                drift.append(f"user {account.id} {kind} {counts[kind]} vs {found} rows")

    expected_feeds = {
        follower: {media for media, owner in ledger.media.items() if (follower, owner.id) in ledger.follows}
        for follower in by_id
    }

    def missing_from_feed(follower: str) -> set[str]:
        """Expected media absent from the feed's first page (only those newer than its oldest, when full)."""
        page = [m["id"] for m in by_id[follower].data("users/self/feed", count=100)]
        wanted = expected_feeds[follower]
        if len(page) == 100:
            oldest = min(int(m.partition("_")[0]) for m in page)
            wanted = {m for m in wanted if int(m.partition("_")[0]) > oldest}
        return wanted - set(page)

    def feeds_converged() -> bool:
        return not any(missing_from_feed(follower) for follower in expected_feeds)

    converged = True
    try:
        wait_for(feeds_converged, timeout=90, interval=2.0)
    except AssertionError:
        converged = False
        for follower in expected_feeds:
            drift += [f"feed of {follower} misses {media}" for media in sorted(missing_from_feed(follower))]

    requests_sent = sum(ledger.statuses.values())
    acknowledged = sum(n for status, n in ledger.statuses.items() if status.startswith("2"))
    with capsys.disabled():
        print(
            f"\nfault injection ({', '.join(VICTIMS)} SIGKILLed in turn, {load_seconds:.0f}s of load): "
            f"requests={requests_sent} acknowledged={acknowledged} lost={len(lost)} "
            f"503s={ledger.statuses['503']} other-5xx={len(ledger.bad)} "
            f"counter-drift={len(drift)} unacknowledged-split={split} feeds-converged={converged} "
            f"statuses={dict(ledger.statuses)}"
        )
    assert ledger.bad == []
    assert lost == []
    assert drift == [], drift[:20]
    assert converged
    assert acknowledged > 0
