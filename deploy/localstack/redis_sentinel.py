"""Redis instances (main and the feed shards, each with a replica) and the Sentinels watching them."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

from deploy.localstack.base import DEPLOY, SERVICE_USER
from deploy.localstack.profiles import Profile
from deploy.localstack.templates import render


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
