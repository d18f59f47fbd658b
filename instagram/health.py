"""Checks behind /health: is every component of the stack up and wired right?

Each check returns its details or raises; `check_all` turns a raise into a
"down" entry naming the error's class (its text, which can name internal
hosts and ports, goes only to the log). nginx and Pingdom-style monitors
read the status code: 200 when everything is up, 503 otherwise.

Checks reuse the process's connections (Django's, Redis', S3's) with
short timeouts; gearmand's admin protocol, pgbouncer's console and each
memcached server take one short connection per report.
"""

import logging
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import gearman
import pylibmc
import redis
from django.conf import settings
from django.db import connections

from instagram import rediskeys
from instagram.pgbouncer import pgbouncer_console
from instagram.redis_client import feed_primary, feed_replica, feed_shard_count, redis_primary, redis_replica
from photos.storage import s3_client
from sharding.routing import shard_map
from workers.jobs import REGISTRY

logger = logging.getLogger(__name__)

Details = dict[str, Any]


def _lsn(value: str) -> int:
    high, low = value.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def check_database(alias: str) -> Details:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        (in_recovery,) = cursor.fetchone()
    if in_recovery:
        raise RuntimeError(f"{alias} is a read-only standby, not a primary")
    return {}


def check_replica(primary: str, replica: str) -> Details:
    """Check the standby twin of `primary`: in recovery, and how far behind in bytes."""
    with connections[primary].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        (primary_lsn,) = cursor.fetchone()
    with connections[replica].cursor() as cursor:
        cursor.execute(
            "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text,"
            " EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())"
        )
        in_recovery, replay_lsn, seconds = cursor.fetchone()
    if not in_recovery:
        raise RuntimeError(f"{replica} is not a standby (not in recovery)")
    if replay_lsn is None:
        raise RuntimeError(f"{replica} has not replayed any WAL")
    return {
        "lag_bytes": max(0, _lsn(primary_lsn) - _lsn(replay_lsn)),
        "last_replay_age_seconds": None if seconds is None else round(float(seconds), 3),
    }


def check_pgbouncer() -> Details:
    pools = pgbouncer_console("SHOW POOLS")
    mode = {str(p["pool_mode"]) for p in pools if p["database"] != "pgbouncer"}
    return {"pools": len(pools), "pool_mode": ",".join(sorted(mode))}


def check_redis(client: redis.Redis) -> Details:
    """Write and read back a probe on a primary; report its role, port and replicas."""
    probe = uuid.uuid4().hex
    # One MULTI block, so concurrent health checks cannot read each other's probe.
    pipe = client.pipeline(transaction=True)
    pipe.set(rediskeys.health_probe(), probe, ex=60)
    pipe.get(rediskeys.health_probe())
    pipe.info("replication")
    pipe.info("server")
    _, read_back, info, server = pipe.execute()
    if read_back != probe.encode():
        raise RuntimeError("read back a different value than written")
    return {"role": info["role"], "port": server["tcp_port"], "connected_replicas": info["connected_slaves"]}


def check_redis_replica(client: redis.Redis) -> Details:
    info = client.info("replication")
    if info.get("role") != "slave":
        # A connection made while its server was a replica still reaches it once Sentinel
        # has promoted it (Sentinel drops the clients of the servers it demotes, not of the
        # one it promotes): reads there are right, but ask again on fresh connections, which
        # find the replicas through Sentinel, before calling the replica down.
        client.connection_pool.disconnect(inuse_connections=False)
        info = client.info("replication")
    if info.get("role") != "slave":
        raise RuntimeError(f"role is {info.get('role')}, not replica")
    if info.get("master_link_status") != "up":
        raise RuntimeError(f"link to the primary is {info.get('master_link_status')}")
    return {"link": "up", "primary_port": info.get("master_port"), "offset": info.get("slave_repl_offset")}


def redis_checks() -> dict[str, Callable[[], Details]]:
    """Return a check for each Redis instance: the main one, then every feed shard (with replicas)."""
    named: dict[str, Callable[[], Details]] = {
        "redis": lambda: check_redis(redis_primary()),
        "redis_replica": lambda: check_redis_replica(redis_replica()),
    }
    # Without their own instances, the feed shards are the main one: nothing more to check.
    if settings.REDIS_FEED_URLS != [settings.REDIS_URL]:
        for index in range(feed_shard_count()):
            named[f"redis_feed_{index}"] = partial(lambda i: check_redis(feed_primary(i)), index)
            named[f"redis_feed_{index}_replica"] = partial(
                lambda i: check_redis_replica(feed_replica(i)), index
            )
    return named


def check_memcached() -> Details:
    """Round-trip a value through every memcached server on a fresh connection.

    A kept client would report a restarted server down: its old socket fails
    once, and libmemcached then disables the server until retry_timeout (at
    least a second). A fresh client tells whether the server is up right now,
    for one TCP connect with a one-second timeout.
    """
    for server in settings.MEMCACHED_SERVERS:
        client = pylibmc.Client([server], binary=False, behaviors={"connect_timeout": 1000})
        key = f"health:probe:{uuid.uuid4().hex}"
        try:
            client.set(key, 1, time=10)
            if client.get(key) != 1:
                raise RuntimeError(f"{server}: a value just written could not be read back")
            client.delete(key)
        finally:
            client.disconnect_all()
    return {"servers": len(settings.MEMCACHED_SERVERS)}


class GearmanReport:
    """gearmand's status and workers, read over one admin connection per report."""

    def __init__(self) -> None:
        self._answer: tuple[list[dict[str, Any]], list[dict[str, Any]]] | Exception | None = None

    def _read(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        # A gearmand that does not answer costs one timeout per report, not two.
        if self._answer is None:
            admin = gearman.GearmanAdminClient(settings.GEARMAN_SERVERS, poll_timeout=2.0)
            try:
                self._answer = (list(admin.get_status()), list(admin.get_workers()))
            except Exception as exc:  # re-raised below, by each check that reads it
                self._answer = exc
            finally:
                admin.shutdown()
        if isinstance(self._answer, Exception):
            raise self._answer
        return self._answer

    def check_gearmand(self) -> Details:
        statuses, _ = self._read()
        queued = {s["task"]: s["queued"] for s in statuses if s["task"] in REGISTRY}
        return {"queued": queued}

    def check_workers(self) -> Details:
        """Count the connected workers that serve our job functions; none is an outage."""
        _, workers = self._read()
        live = [w for w in workers if set(w["tasks"]) & set(REGISTRY)]
        if not live:
            raise RuntimeError("no worker is connected to gearmand")
        return {"live": len(live)}


def check_shard_map() -> Details:
    """The shard map matches LOGICAL_SHARDS and names only configured databases."""
    databases = shard_map(max_age=0).databases
    unknown = set(databases) - set(settings.SHARD_DATABASES)
    if unknown:
        raise RuntimeError(f"the map names unknown databases: {sorted(unknown)}")
    return {"logical_shards": len(databases)}


def check_storage() -> Details:
    s3_client().head_bucket(Bucket=settings.S3_BUCKET)
    return {"bucket": settings.S3_BUCKET}


def checks() -> dict[str, Callable[[], Details]]:
    """Return every component check by name, databases first."""
    gearman = GearmanReport()
    named: dict[str, Callable[[], Details]] = {}
    for primary, replica in settings.REPLICA_DATABASES.items():
        named[f"postgres:{primary}"] = partial(check_database, primary)
        named[f"postgres:{replica}"] = partial(check_replica, primary, replica)
    named.update(
        {
            "shard_map": check_shard_map,
            "pgbouncer": check_pgbouncer,
            **redis_checks(),
            "memcached": check_memcached,
            "gearmand": gearman.check_gearmand,
            "workers": gearman.check_workers,
            "storage": check_storage,
        }
    )
    return named


def check_all() -> dict[str, Any]:
    """Run every check; return the report /health serves."""
    components: dict[str, Details] = {}
    for name, check in checks().items():
        started = time.perf_counter()
        try:
            details = {"status": "up", **check()}
        except Exception as exc:  # a health check reports any failure, it never raises
            logger.warning("health: %s is down: %s", name, exc)
            details = {"status": "down", "error": type(exc).__name__}
        details["ms"] = round((time.perf_counter() - started) * 1000, 1)
        components[name] = details
    down = sorted(name for name, d in components.items() if d["status"] != "up")
    return {"status": "down" if down else "up", "down": down, "components": components}
