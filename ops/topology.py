"""Where the servers the ops commands act on live: the topology file.

The ops commands (failover, standby rebuild, backups, restores) run on a
database or Redis host. What they need to know about that host (its
PostgreSQL nodes, ports and data folders, the binaries, the socket folder,
the service manager and the user the services run as) is read from one TOML
file named by IG_TOPOLOGY. deploy/stack.py writes it for a local stack
(var/<profile>/etc/topology.toml, supervisorctl); `fab setup` writes it on a
real host from the inventory (systemctl). Nothing here imports the launcher;
docs/decisions/topology-file.md says why.

Relative paths in the file are read from the file's own folder.
"""

import os
import socket
import subprocess
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SERVICE_MANAGERS = ("supervisorctl", "systemctl")


class TopologyError(Exception):
    pass


@dataclass(frozen=True)
class PgNode:
    name: str  # the service's name under the service manager
    host: str
    port: int
    data: Path
    # repmgr's configuration of this node and the service running its
    # repmgrd (docs/decisions/repmgr.md); None on a host without repmgr.
    repmgr_conf: Path | None = None
    repmgrd: str | None = None


@dataclass(frozen=True)
class RedisInstance:
    """One Redis primary and its replica, under their Sentinel name (main, feed-0 ...)."""

    name: str
    service: str
    host: str
    port: int
    replica_service: str
    replica_port: int


@dataclass(frozen=True)
class Topology:
    path: Path
    service_manager: str
    service_user: str
    supervisor_conf: Path | None  # supervisorctl only
    supervisorctl: str  # its binary; supervisorctl only
    pg_bin: Path
    socket_dir: Path
    pg_nodes: tuple[PgNode, ...]
    primary_file: Path  # names the node that is the primary now
    replication_user: str
    standby_name: str  # the application_name synchronous_standby_names waits for
    database: str
    db_user: str
    pgbouncer_reconfigure: tuple[str, ...]  # renders pgbouncer's files for the recorded primary
    redis_service: str  # the main instance's primary (sessions, rate limits, queues...)
    redis_port: int
    # Every instance (main, then the feed shards) and the Sentinels watching
    # them; a file without them describes one instance and no Sentinel.
    redis_instances: tuple[RedisInstance, ...] = ()
    redis_sentinels: tuple[str, ...] = ()

    def node(self, name: str) -> PgNode:
        for node in self.pg_nodes:
            if node.name == name:
                return node
        raise TopologyError(f"{self.path} has no PostgreSQL node {name!r}")

    def primary(self) -> str:
        """Return the name of the primary node, as recorded in the primary file (default: the first)."""
        names = [node.name for node in self.pg_nodes]
        primary = self.primary_file.read_text().strip() if self.primary_file.exists() else names[0]
        if primary not in names:
            raise TopologyError(f"{self.primary_file} names {primary!r}, not one of {', '.join(names)}")
        return primary

    def pg_roles(self) -> tuple[str, str]:
        """Return the (primary, standby) node names."""
        primary = self.primary()
        standby = [node.name for node in self.pg_nodes if node.name != primary]
        if not standby:
            raise TopologyError(f"{self.path} names no standby: there is no failover nor standby to rebuild")
        return primary, standby[0]

    def record_primary(self, name: str) -> None:
        self.node(name)
        self.primary_file.write_text(f"{name}\n")

    @property
    def repmgr(self) -> bool:
        """Whether repmgr manages these nodes (each names its repmgr.conf)."""
        return all(node.repmgr_conf is not None for node in self.pg_nodes)

    def standby_application_name(self) -> str:
        """The application_name the standby streams under: repmgr's node_name, or standby_name."""
        return self.pg_roles()[1] if self.repmgr else self.standby_name

    @property
    def sync_standby_names(self) -> str:
        if self.repmgr:
            # Whichever node is the standby (repmgr streams under the node's name).
            return "ANY 1 ({})".format(", ".join(f'"{node.name}"' for node in self.pg_nodes))
        return f"ANY 1 ({self.standby_name})"

    def run(
        self,
        cmd: list[str],
        *,
        as_service_user: bool = False,
        env: dict[str, str] | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run `cmd`, as the service user when asked and this process is root; fail with its output."""
        if as_service_user and os.geteuid() == 0:
            prefix = ["runuser", "-u", self.service_user, "--"]
            if env:
                prefix += ["env", *(f"{key}={value}" for key, value in env.items())]
            cmd = [*prefix, *cmd]
            env = None
        result = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            env={**os.environ, **env} if env else None,
        )
        if check and result.returncode != 0:
            raise TopologyError(
                f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
            )
        return result

    def service(self, action: str, name: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Start, stop or ask the status of service `name` through the host's service manager."""
        if self.service_manager == "supervisorctl":
            cmd = [self.supervisorctl, "-c", str(self.supervisor_conf), action, name]
        else:
            cmd = ["systemctl", "is-active" if action == "status" else action, name]
        return self.run(cmd, check=check)

    def start_service(self, name: str, *, port: int, timeout: float = 30) -> None:
        """Start service `name` and wait until it accepts connections on `port`."""
        result = self.service("start", name, check=False)
        if result.returncode != 0 and "already started" not in result.stdout:
            raise TopologyError(f"{name} failed to start: {result.stdout.strip()}{result.stderr.strip()}")
        deadline = time.monotonic() + timeout
        while not _port_open(port):
            if time.monotonic() > deadline:
                raise TopologyError(f"{name} did not listen on port {port} in {timeout:.0f}s; read its log")
            time.sleep(0.05)

    def run_repmgr(self, node: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `repmgr -f <node's repmgr.conf> args...` as the service user."""
        conf = self.node(node).repmgr_conf
        if conf is None:
            raise TopologyError(f"{self.path}: PostgreSQL node {node!r} names no repmgr_conf")
        return self.run(
            [str(self.pg_bin / "repmgr"), "-f", str(conf), *args], as_service_user=True, check=check
        )

    def reconfigure_pgbouncer(self) -> None:
        """Render pgbouncer's files for the recorded primary (a RELOAD then reads them)."""
        self.run(list(self.pgbouncer_reconfigure))


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _get(table: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in table:
        raise TopologyError(f"{where}: missing {key!r}")
    value = table[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TopologyError(f"{where}: {key!r} must be a {kind.__name__}, not {value!r}")
    return value


def parse(data: dict[str, Any], *, path: Path) -> Topology:
    """Build a Topology from the parsed TOML of file `path`; fail naming a missing or wrong key."""
    base = path.parent
    where = str(path)

    def folder(value: str) -> Path:
        return (base / value) if not Path(value).is_absolute() else Path(value)

    host = _get(data, "host", dict, where)
    postgres = _get(data, "postgres", dict, where)
    redis = _get(data, "redis", dict, where)
    manager = _get(host, "service_manager", str, f"{where} [host]")
    if manager not in SERVICE_MANAGERS:
        raise TopologyError(f"{where} [host]: service_manager must be one of {', '.join(SERVICE_MANAGERS)}")
    supervisor_conf, supervisorctl = None, "supervisorctl"
    if manager == "supervisorctl":
        supervisor_conf = folder(_get(host, "supervisor_conf", str, f"{where} [host]"))
        supervisorctl = str(folder(host["supervisorctl"])) if "supervisorctl" in host else supervisorctl
    nodes = tuple(
        PgNode(
            name=_get(node, "name", str, f"{where} [[postgres.nodes]]"),
            host=_get(node, "host", str, f"{where} [[postgres.nodes]]"),
            port=_get(node, "port", int, f"{where} [[postgres.nodes]]"),
            data=folder(_get(node, "data", str, f"{where} [[postgres.nodes]]")),
            repmgr_conf=(
                folder(_get(node, "repmgr_conf", str, f"{where} [[postgres.nodes]]"))
                if "repmgr_conf" in node
                else None
            ),
            repmgrd=_get(node, "repmgrd", str, f"{where} [[postgres.nodes]]") if "repmgrd" in node else None,
        )
        for node in _get(postgres, "nodes", list, f"{where} [postgres]")
    )
    instances = tuple(
        RedisInstance(
            name=_get(i, "name", str, f"{where} [[redis.instances]]"),
            service=_get(i, "service", str, f"{where} [[redis.instances]]"),
            host=_get(i, "host", str, f"{where} [[redis.instances]]"),
            port=_get(i, "port", int, f"{where} [[redis.instances]]"),
            replica_service=_get(i, "replica_service", str, f"{where} [[redis.instances]]"),
            replica_port=_get(i, "replica_port", int, f"{where} [[redis.instances]]"),
        )
        for i in (_get(redis, "instances", list, f"{where} [redis]") if "instances" in redis else [])
    )
    sentinels = tuple(_get(redis, "sentinels", list, f"{where} [redis]") if "sentinels" in redis else [])
    if len(nodes) not in {1, 2}:
        raise TopologyError(f"{where}: [[postgres.nodes]] must name one node or two (a primary, its standby)")
    return Topology(
        path=path,
        service_manager=manager,
        service_user=_get(host, "service_user", str, f"{where} [host]"),
        supervisor_conf=supervisor_conf,
        supervisorctl=supervisorctl,
        pg_bin=folder(_get(postgres, "bin", str, f"{where} [postgres]")),
        socket_dir=folder(_get(postgres, "socket_dir", str, f"{where} [postgres]")),
        pg_nodes=nodes,
        primary_file=folder(_get(postgres, "primary_file", str, f"{where} [postgres]")),
        replication_user=_get(postgres, "replication_user", str, f"{where} [postgres]"),
        standby_name=_get(postgres, "standby_name", str, f"{where} [postgres]"),
        database=_get(postgres, "database", str, f"{where} [postgres]"),
        db_user=_get(postgres, "db_user", str, f"{where} [postgres]"),
        pgbouncer_reconfigure=tuple(_get(postgres, "pgbouncer_reconfigure", list, f"{where} [postgres]")),
        redis_service=_get(redis, "service", str, f"{where} [redis]"),
        redis_port=_get(redis, "port", int, f"{where} [redis]"),
        redis_instances=instances,
        redis_sentinels=tuple(str(s) for s in sentinels),
    )


def load(path: Path) -> Topology:
    """Read the topology file at `path`."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise TopologyError(f"cannot read the topology file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TopologyError(f"{path} is not valid TOML: {exc}") from exc
    return parse(data, path=path)
