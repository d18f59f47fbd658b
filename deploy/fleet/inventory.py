"""The inventory: its hosts, their roles and settings, and the hosts a task runs on (-H)."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fabric import Connection
from fabric.executor import Executor
from invoke.context import Context
from invoke.exceptions import Exit

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_INVENTORY = ROOT / "deploy" / "inventory.toml"

ROLES = ("app", "worker", "db", "redis", "sentinel", "cache", "gearman", "lb")
# Hosts that hold releases: app and worker hosts run them; db and redis hosts
# run their management commands (backups, failover) through them.
RELEASE_ROLES = ("app", "worker", "db", "redis")
# What runs a db, redis, cache or gearman host's servers (deploy/fleet/services.py);
# "none": someone else runs them, and fab setup leaves them alone.
SERVICE_MANAGERS = ("systemd", "supervisord", "none")
# Default service ports the status checks probe on db, redis, cache and lb hosts.
SERVICE_PORTS = {
    "pg_port": 5432,
    "redis_port": 6379,
    # Redis hosts: feed shard i listens on redis_feed_port + i ([redis] feed_shards).
    "redis_feed_port": 6380,
    "memcached_port": 11211,
    "gearman_port": 4730,
    "sentinel_port": 26379,
    "http_port": 80,
    # lb hosts: the API over HTTPS, and the CDN's two ports (deploy/nginx/nginx.conf).
    "https_port": 443,
    "cdn_port": 8001,
    "cdn_https_port": 8444,
}


@dataclass(frozen=True, eq=False)
class Host:
    """One machine of the inventory: how to reach it and what it runs (hashed by identity)."""

    name: str
    address: str
    roles: tuple[str, ...]
    user: str = "deploy"
    port: int = 22
    root: str = "/srv/instagram"
    python: str = "python3"
    bind: str = "127.0.0.1:8000"
    workers: int = 2
    identity: str | None = None
    known_hosts: str | None = None
    # db hosts: what the topology file (ops/topology.py) says of their PostgreSQL.
    pg_bin: str = "/usr/lib/postgresql/15/bin"
    pg_data: str = "/var/lib/postgresql/15/main"
    pg_service: str = "postgresql@15-main"
    service_user: str = "postgres"
    # lb hosts: the nginx `fab setup` configures and runs, and what it listens with.
    nginx: str = "/usr/sbin/nginx"
    nginx_user: str = "www-data"
    listen: str = "0.0.0.0"  # noqa: S104 (the lb's public side)
    tls_certificate: str = "/etc/ssl/instagram/server.pem"
    tls_certificate_key: str = "/etc/ssl/instagram/server.key"
    services: dict[str, int] = field(default_factory=lambda: dict(SERVICE_PORTS))
    # db, redis, cache and gearman hosts: what runs their servers (systemd, or a
    # supervisord fab starts where there is none) and where their data lives.
    service_manager: str = "systemd"
    data: str = "/var/lib/instagram"
    # app, worker and db hosts: where the SSH user's keys are; `fab setup` adds
    # the db hosts' repmgr hook keys there, restricted to pgbouncer-repoint.
    authorized_keys: str = "~/.ssh/authorized_keys"

    def __str__(self) -> str:
        return f"{self.name} ({self.user}@{self.address}:{self.port})"

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    @property
    def local_url(self) -> str:
        """The gunicorn bind as a URL the host itself can fetch."""
        address, _, port = self.bind.rpartition(":")
        if address in {"", "0.0.0.0", "[::]"}:  # noqa: S104 (a listen address, read here)
            address = "127.0.0.1"
        return f"http://{address}:{port}"


class InventoryError(Exception):
    """The inventory file is missing or wrong; the message says where."""


@dataclass(frozen=True)
class DbClusterSpec:
    """One PostgreSQL cluster of the inventory's [db_clusters]: its db hosts and the databases it holds.

    The first host is its primary on a fresh fleet, the second its standby;
    `databases` are pgbouncer names of the settings (DB_MAIN, DB_SHARDS).
    """

    name: str
    hosts: tuple[str, ...]
    databases: tuple[str, ...]


@dataclass(frozen=True)
class Inventory:
    path: Path
    hosts: dict[str, Host]
    defaults: dict[str, Any]
    keep_releases: int
    # [db_clusters]; empty: one cluster, the first two db hosts, holding every database.
    db_clusters: tuple[DbClusterSpec, ...] = ()
    # Feed shards the redis hosts run beside the main instance ([redis] feed_shards;
    # 0: the feeds live on the main instance). docs/deploy.md.
    redis_feed_shards: int = 0

    @classmethod
    def load(cls, path: Path) -> Inventory:
        if not path.exists():
            raise InventoryError(
                f"no inventory at {path}: copy deploy/inventory.example.toml there, "
                "or point IG_INVENTORY at yours"
            )
        with path.open("rb") as f:
            data = tomllib.load(f)
        defaults = dict(data.get("defaults", {}))
        keep = int(data.get("deploy", {}).get("keep_releases", 5))
        if keep < 2:
            raise InventoryError(f"{path}: deploy.keep_releases must be at least 2 (one to roll back to)")
        feed_shards = data.get("redis", {}).get("feed_shards", 0)
        if not isinstance(feed_shards, int) or isinstance(feed_shards, bool) or feed_shards < 0:
            raise InventoryError(
                f"{path}: redis.feed_shards must be a whole number (0: feeds on the main instance)"
            )
        roles: dict[str, list[str]] = {}
        for role, names in data.get("roles", {}).items():
            if role not in ROLES:
                raise InventoryError(f"{path}: unknown role {role!r} (roles are {', '.join(ROLES)})")
            for name in names:
                if name not in data.get("hosts", {}):
                    raise InventoryError(f"{path}: role {role} names host {name!r}, which [hosts] lacks")
                roles.setdefault(name, []).append(role)
        if "sentinel" not in data.get("roles", {}):
            # Only where fab runs the servers (not service_manager = "none").
            managed = [
                name
                for name, settings in data.get("hosts", {}).items()
                if {**defaults, **settings}.get("service_manager", "systemd") != "none"
            ]
            for name in default_sentinels(roles, managed):
                roles[name].append("sentinel")
        hosts = {
            name: make_host(name, {**defaults, **settings}, tuple(roles.get(name, ())), where=path)
            for name, settings in data.get("hosts", {}).items()
        }
        clusters = db_cluster_specs(data.get("db_clusters", {}), hosts, where=path)
        if feed_shards and not any("redis" in h.roles for h in hosts.values()):
            raise InventoryError(f"{path}: redis.feed_shards is {feed_shards} but no host has the redis role")
        return cls(
            path=path,
            hosts=hosts,
            defaults=defaults,
            keep_releases=keep,
            db_clusters=clusters,
            redis_feed_shards=feed_shards,
        )

    def select(self, roles: Iterable[str], only: Sequence[str] = ()) -> list[Host]:
        """Return the hosts having any of `roles`, in inventory order; `only` (from -H) narrows them."""
        wanted = set(roles)
        if not only:
            return [h for h in self.hosts.values() if wanted & set(h.roles)]
        chosen: list[Host] = []
        for spec in only:
            known = self.hosts.get(spec) or next(
                (h for h in self.hosts.values() if spec in {h.address, f"{h.address}:{h.port}"}), None
            )
            if known is None:
                # A host the inventory does not list: an app and worker host with the defaults.
                user, _, rest = spec.rpartition("@")
                address, _, port = rest.partition(":")
                if not address or not (port or "22").isdigit():
                    raise InventoryError(f"-H {spec}: give an inventory name or [user@]address[:port]")
                settings = {**self.defaults, "host": address}
                settings.update({"user": user} if user else {})
                settings.update({"port": int(port)} if port else {})
                known = make_host(spec, settings, ("app", "worker"), where=self.path)
            if wanted & set(known.roles):
                chosen.append(known)
        return chosen


def db_cluster_specs(
    table: dict[str, Any], hosts: dict[str, Host], *, where: Path
) -> tuple[DbClusterSpec, ...]:
    """Read [db_clusters] (name = { hosts = [...], databases = [...] }); check what the inventory alone can.

    Each cluster is a primary and at most one standby, db hosts of the
    inventory; a db host fab manages belongs to exactly one cluster, and a
    database to at most one (that every database of the settings has one is
    checked by `fab setup`, which has the settings: roles.cluster_specs).
    """
    specs: list[DbClusterSpec] = []
    owner: dict[str, str] = {}
    holder: dict[str, str] = {}
    for name, value in table.items():
        if not isinstance(value, dict) or set(value) - {"hosts", "databases"}:
            raise InventoryError(f"{where}: db_clusters.{name} takes hosts = [...] and databases = [...]")
        names, databases = value.get("hosts", []), value.get("databases", [])
        if not 1 <= len(names) <= 2 or not all(isinstance(n, str) for n in names):
            raise InventoryError(
                f"{where}: db_clusters.{name}: hosts lists its primary and at most one standby (1 or 2 names)"
            )
        if not databases or not all(isinstance(d, str) for d in databases):
            raise InventoryError(f"{where}: db_clusters.{name}: databases lists the databases it holds")
        for host in names:
            if host not in hosts or "db" not in hosts[host].roles:
                raise InventoryError(f"{where}: db_clusters.{name} names {host!r}, which is no db host")
            if host in owner:
                raise InventoryError(f"{where}: db host {host} is in two clusters ({owner[host]}, {name})")
            owner[host] = name
        for database in databases:
            if database in holder:
                raise InventoryError(
                    f"{where}: database {database} is held by two clusters ({holder[database]}, {name})"
                )
            holder[database] = name
        specs.append(DbClusterSpec(name=name, hosts=tuple(names), databases=tuple(databases)))
    if specs:
        stray = [
            h.name
            for h in hosts.values()
            if "db" in h.roles and h.service_manager != "none" and h.name not in owner
        ]
        if stray:
            raise InventoryError(f"{where}: db hosts in no db_clusters entry: {', '.join(stray)}")
    return tuple(specs)


# Redis Sentinels: three, so that two (the quorum) still agree when one host is lost.
SENTINELS = 3


def default_sentinels(roles: dict[str, list[str]], names: list[str]) -> list[str]:
    """Where the Sentinels run when the inventory's [roles] names no `sentinel` hosts.

    On the redis hosts first, then on the other hosts with servers (db, cache,
    gearman) in inventory order, SENTINELS of them: each on its own host, so
    that losing one host (even the primary's) leaves a quorum. None without redis hosts.
    """
    redis = [name for name in names if "redis" in roles.get(name, ())]
    if not redis:
        return []
    others = [
        name for name in names if name not in redis and {"db", "cache", "gearman"} & set(roles.get(name, ()))
    ]
    return (redis + others)[:SENTINELS]


def make_host(name: str, settings: dict[str, Any], roles: tuple[str, ...], *, where: Path) -> Host:
    settings = dict(settings)
    services = {key: int(settings.pop(key, default)) for key, default in SERVICE_PORTS.items()}
    manager = settings.get("service_manager", "systemd")
    if manager not in SERVICE_MANAGERS:
        raise InventoryError(
            f"{where}: host {name}: service_manager is {manager!r}, not one of {', '.join(SERVICE_MANAGERS)}"
        )
    try:
        return Host(
            name=name,
            address=str(settings.pop("host", name)),
            roles=roles,
            services=services,
            **settings,
        )
    except TypeError as exc:
        raise InventoryError(f"{where}: host {name}: {exc}") from None


def inventory_path() -> Path:
    return Path(os.environ.get("IG_INVENTORY", DEFAULT_INVENTORY))


class InventoryExecutor(Executor):  # type: ignore[misc]
    """Run each task once with the `-H` hosts in its config, instead of once per host.

    A rollout prepares every host before it switches any, so a task must see
    the whole host list; fabric's own executor would call it once per host.
    fabric.yaml (next to this file) selects this class.
    """

    def expand_calls(self, calls: list[Any], apply_hosts: bool = True) -> list[Any]:
        hosts = self.core[0].args.hosts.value if self.core else None
        if apply_hosts and hosts:
            self.config["cli_hosts"] = [h.strip() for h in hosts.split(",") if h.strip()]
        return list(super().expand_calls(calls, apply_hosts=False))


def targets(c: Context, roles: Iterable[str]) -> tuple[Inventory, list[Host]]:
    """Return the inventory and its hosts of `roles` (narrowed by -H); exit when there are none."""
    if isinstance(c, Connection):
        raise Exit("run fab from the repository root: its fabric.yaml selects fabfile.InventoryExecutor")
    roles = tuple(roles)
    try:
        inventory = Inventory.load(inventory_path())
        hosts = inventory.select(roles, c.config.get("cli_hosts") or ())
    except (InventoryError, tomllib.TOMLDecodeError) as exc:
        raise Exit(str(exc), code=2) from None
    if not hosts:
        raise Exit(f"no host with role {' or '.join(roles)} in {inventory.path}", code=2)
    return inventory, hosts
