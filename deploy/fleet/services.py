"""The servers of a host's db, redis, cache and gearman roles, and how `fab setup` provisions them.

One description per server (`Service`: its command line and user), rendered
for the host's service manager: a systemd unit on real hosts
(`/etc/systemd/system/instagram-<name>.service`), or a program of a
supervisord that fab runs for the host where there is no systemd (the fleet
test's network namespaces; `service_manager = "supervisord"` in the
inventory). The configuration files are the repository's templates under
deploy/ (the ones the local stack runs), rendered with the host's values.

Provisioning is idempotent: a file is written only when its content changes,
a server restarts only when its unit or its files changed, PostgreSQL is
initialized only once, and roles and databases are created only when
missing. A run that changes nothing says so: "services: unchanged".
"""

from __future__ import annotations

import io
import shlex
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

from deploy.fleet.inventory import Host
from deploy.fleet.remote import Remote
from deploy.localstack.templates import render  # the local stack's {{name}} templates, shared

DEPLOY = Path(__file__).resolve().parent.parent
SERVICE_ROLES = ("db", "redis", "sentinel", "cache", "gearman")
# Hosts whose pgbouncer the apps (or the ops commands) connect through: it
# runs beside them, so the death of a db host takes no pooler with it, and
# repmgr's event hook repoints every one of them at a promoted standby.
BOUNCER_ROLES = ("app", "worker", "db")
# Debian packages each role needs; `fab setup` installs the missing ones.
PACKAGES = {
    "app": ("ffmpeg", "pgbouncer"),
    "worker": ("pgbouncer",),
    "db": ("postgresql-15", "postgresql-15-repmgr", "pgbouncer", "barman-cli-cloud"),
    "redis": ("redis-server", "redis-sentinel"),
    "sentinel": ("redis-sentinel",),
    "cache": ("memcached",),
    "gearman": ("gearman-job-server",),
    "lb": ("nginx",),
}
UNIT_PREFIX = "instagram-"
PG_DATABASES = {"main": "instagram_main", "shard0": "instagram_shard0", "shard1": "instagram_shard1"}


def database_names(settings: dict[str, str]) -> list[str]:
    """The app's databases as pgbouncer names them: DB_MAIN, then the physical shards DB_SHARDS."""
    shards = [name.strip() for name in settings.get("DB_SHARDS", "shard0,shard1").split(",") if name.strip()]
    return [settings.get("DB_MAIN") or "main", *shards]


def pg_database(name: str) -> str:
    """The PostgreSQL database behind pgbouncer name `name` (instagram_<name>)."""
    return PG_DATABASES.get(name, f"instagram_{name}")


def database_routes(cluster: Cluster, settings: dict[str, str]) -> list[tuple[str, str, str]]:
    """(database, primary, standby) of each database every pgbouncer serves: each to its cluster's nodes."""
    if cluster.pg_routes:
        return list(cluster.pg_routes)
    standby = cluster.pg_standby or cluster.pg_primary
    return [(name, cluster.pg_primary, standby) for name in database_names(settings)]


def databases_section(routes: list[tuple[str, str, str]]) -> str:
    """pgbouncer.ini's [databases] lines: each primary name, then each `_replica` twin."""
    lines = []
    for replica in (False, True):
        for name, primary, standby in routes:
            host, _, port = (standby if replica else primary).rpartition(":")
            alias = f"{name}_replica" if replica else name
            lines.append(f"{alias} = host={host} port={port} dbname={pg_database(name)}\n")
    return "".join(lines)


def with_databases(ini: str, section: str) -> str:
    """The rendered template's [databases] lines replaced by `section` (the template names one primary)."""
    out, inside, placed = [], False, False
    for line in ini.splitlines(keepends=True):
        if line.startswith("["):
            inside = line.strip() == "[databases]"
        elif inside and " = host=" in line:
            if not placed:
                out.append(section)
                placed = True
            continue
        out.append(line)
    return "".join(out)


class ServiceError(Exception):
    """A server could not be provisioned; the message says which and why (with its log's tail)."""


@dataclass(frozen=True)
class Service:
    """One server process: what runs it and as whom."""

    name: str
    description: str
    command: str
    user: str
    port: int  # it is up once it accepts connections here (on 127.0.0.1); 0: it listens nowhere
    stop_signal: str = "TERM"
    files: tuple[str, ...] = ()  # its configuration files: a change restarts it
    # Started by provision() once the node is registered with repmgr (repmgrd), not with the others.
    late: bool = False
    # Secrets it needs in its environment (PostgreSQL's WAL archiving: the S3 keys).
    environment: tuple[tuple[str, str], ...] = ()
    # Started again by the service manager when it dies. Not PostgreSQL under
    # repmgr (a crashed primary restarted after repmgrd promoted its standby
    # would be a second primary; it comes back through `fab rejoin`), nor
    # Redis under Sentinel (see redis_start_script).
    autorestart: bool = True

    @property
    def unit(self) -> str:
        return f"{UNIT_PREFIX}{self.name}"


@dataclass(frozen=True)
class FeedShard:
    """One feed shard of the redis hosts: its first primary and its replica (address:port each).

    Shard i's primary runs on redis host i mod n and its replica on the next
    one, each on the host's redis_feed_port + i; "" for the replica when there
    is one redis host. The Sentinels watch it as `feed-<i>`, the name the app
    asks them for (instagram/redis_client.py).
    """

    index: int
    primary: str
    replica: str = ""

    @property
    def name(self) -> str:
        return f"feed-{self.index}"


@dataclass(frozen=True)
class Cluster:
    """Where the host stands among its role's hosts: the first db and redis hosts are the primaries.

    A db host after the first is a streaming standby of the first (cloned with
    pg_basebackup); a redis host after the first is a replica of the first.
    """

    db_primary: str | None = None  # the primary's address:port, on a standby
    db_addresses: tuple[str, ...] = ()  # every db host's address (replication is allowed from them)
    redis_primary: str | None = None  # the primary's address:port, on a replica
    # Redis Sentinel: the first redis host's address:port (the primary the
    # Sentinels start from), and every Sentinel's address:port.
    redis_monitor: str | None = None
    redis_sentinels: tuple[str, ...] = ()
    # The feed shards ([redis] feed_shards of the inventory), in order.
    redis_feeds: tuple[FeedShard, ...] = ()
    # repmgr's nodes: (name, address, pg_port) of each db host, in inventory order (node id = place + 1).
    db_nodes: tuple[tuple[str, str, int], ...] = ()
    # Where every pgbouncer sends the primary's names and the `_replica` names (address:port).
    pg_primary: str = ""
    pg_standby: str = ""
    # The hosts running a pgbouncer: (ssh user, address, ssh port) for repmgr's event hook.
    bouncers: tuple[tuple[str, str, int], ...] = ()
    hook_keys: tuple[str, ...] = ()  # the db hosts' hook keys (authorized for the repoint command only)
    hook_known_hosts: str = ""  # the bouncer hosts' host keys, for the hook's ssh
    # A db host: the databases its cluster holds (pgbouncer names; empty: every one of the settings).
    databases: tuple[str, ...] = ()
    # Every pgbouncer: (database, its cluster's primary, its standby) of each database, each
    # cluster's own; empty: every database of the settings to pg_primary and pg_standby.
    pg_routes: tuple[tuple[str, str, str], ...] = ()
    # pgbouncer-repoint: each cluster's nodes (address:port) and the databases it holds.
    db_clusters: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()


REPLICATION_USER = "replicator"


def q(value: object) -> str:
    return shlex.quote(str(value))


def has_services(host: Host) -> bool:
    return bool(set(SERVICE_ROLES + BOUNCER_ROLES) & set(host.roles)) and host.service_manager != "none"


def runs_bouncer(host: Host) -> bool:
    return bool(set(BOUNCER_ROLES) & set(host.roles))


def repmgr_node(host: Host, cluster: Cluster) -> int:
    """The host's repmgr node id: its place among the db hosts, from 1."""
    names = [name for name, _, _ in cluster.db_nodes]
    if host.name not in names:
        raise ServiceError(f"{host.name} is not among the db hosts {names}")
    return names.index(host.name) + 1


def repmgr_conf(host: Host) -> str:
    return f"{folders(host)['etc']}/repmgr.conf"


def pgpass(host: Host) -> str:
    return f"{folders(host)['etc']}/pgpass"


def hook_key(host: Host) -> str:
    return f"{folders(host)['etc']}/repmgr-hook-key"


def service_control(host: Host, action: str, unit: str) -> str:
    """The shell command that starts, stops or signals (action "signal HUP") `unit` on `host`."""
    if host.service_manager == "supervisord":
        conf, ctl = supervisor_paths(host)
        return f"{q(ctl)} -c {q(conf)} {action} {q(unit)}"
    if action.startswith("signal "):
        return f"systemctl kill --signal={action.split()[1]} {q(unit)}"
    return f"systemctl {action} {q(unit)}"


def folders(host: Host) -> dict[str, str]:
    """The host's service folders: configuration, sockets, logs (data lives under host.data)."""
    base = host.path("shared", "services")
    return {"etc": f"{base}/etc", "run": f"{base}/run", "log": f"{base}/log"}


def alone(host: Host, cluster: Cluster) -> Cluster:
    """A db host rendered without the inventory's cluster (a single db host) is its own primary."""
    if "db" not in host.roles or cluster.db_nodes:
        return cluster
    port = host.services["pg_port"]
    return replace(
        cluster,
        db_nodes=((host.name, host.address, port),),
        db_addresses=(host.address,),
        pg_primary=f"{host.address}:{port}",
        bouncers=((host.user, host.address, host.port),),
    )


def host_files(host: Host, settings: dict[str, str], cluster: Cluster = Cluster()) -> dict[str, str]:
    """Return the configuration files of the host's servers: path on the host -> content."""
    cluster = alone(host, cluster)
    etc, run = folders(host)["etc"], folders(host)["run"]
    files: dict[str, str] = {}
    if "db" in host.roles:
        s3 = urlsplit(settings.get("S3_ENDPOINT_URL", "")).netloc or "127.0.0.1:9000"
        values: dict[str, object] = {
            "pg_node_port": host.services["pg_port"],
            "run": run,
            "etc": etc,
            "s3_addr": s3,
            "backup_bucket": settings.get("BACKUP_BUCKET", "instagram-backups"),
        }
        files[f"{etc}/postgresql.conf"] = render(
            (DEPLOY / "postgresql" / "postgresql.conf").read_text(), values
        )
        hba = render((DEPLOY / "postgresql" / "pg_hba.conf").read_text(), values)
        # The other db hosts stream from this one (either may be the primary after a
        # failover), and their repmgr reaches its database (register, the standby's clone).
        hba += "".join(
            f"host    replication  {REPLICATION_USER}  {address}/32   scram-sha-256\n"
            f"host    repmgr       postgres    {address}/32   scram-sha-256\n"
            for address in cluster.db_addresses
        )
        # Every pgbouncer (app, worker and db hosts) connects as the app's user.
        hba += "".join(
            f"host    all          {settings.get('DB_USER', 'instagram')}  {address}/32   scram-sha-256\n"
            for _, address, _ in cluster.bouncers
        )
        files[f"{etc}/pg_hba.conf"] = hba
        files[pgpass(host)] = pgpass_text(settings)
        node_id = repmgr_node(host, cluster)
        repmgr_values = {
            "repmgr_node_id": node_id,
            "repmgr_node_name": host.name,
            "pg_node_host": host.address,
            "pg_node_port": host.services["pg_port"],
            "pg_node_data": host.pg_data,
            "pg_bin": host.pg_bin,
            "replication_user": REPLICATION_USER,
            "etc": etc,
            "repmgr_conf": "repmgr.conf",
            "run": run,
            "repmgrd_program": "repmgrd",
            "repmgr_event_command": f"{etc}/repmgr-event",
        }
        files[repmgr_conf(host)] = render((DEPLOY / "postgresql" / "repmgr.conf").read_text(), repmgr_values)
        files[f"{etc}/repmgr-event"] = repmgr_event_script(host, cluster)
        files[f"{etc}/repmgr-hook-known_hosts"] = cluster.hook_known_hosts
    if runs_bouncer(host) and cluster.pg_primary:
        primary_host, _, primary_port = cluster.pg_primary.rpartition(":")
        standby_host, _, standby_port = (cluster.pg_standby or cluster.pg_primary).rpartition(":")
        # The apps and workers reach their own pgbouncer on loopback; a db host's
        # also on its address (the ops commands of the other hosts).
        listen = f"{host.address},127.0.0.1" if "db" in host.roles else "127.0.0.1"
        bouncer = {
            "listen_host": listen,
            "pgbouncer_port": pgbouncer_port(settings),
            "etc": etc,
            "db_user": settings.get("DB_USER", "instagram"),
            "db_password": settings.get("DB_PASSWORD", "instagram"),
            "main_db": PG_DATABASES["main"],
            "shard0_db": PG_DATABASES["shard0"],
            "shard1_db": PG_DATABASES["shard1"],
            "pg_primary_host": primary_host,
            "pg_primary_port": primary_port,
            "pg_standby_host": standby_host,
            "pg_standby_port": standby_port,
            "query_wait_timeout": 30,
            "fallback_database": "",
        }
        # Each database goes to its own cluster's primary, its `_replica` twin to that cluster's standby.
        files[f"{etc}/pgbouncer.ini"] = with_databases(
            render((DEPLOY / "pgbouncer" / "pgbouncer.ini").read_text(), bouncer),
            databases_section(database_routes(cluster, settings)),
        )
        files[f"{etc}/pgbouncer-users.txt"] = render(
            (DEPLOY / "pgbouncer" / "userlist.txt").read_text(), bouncer
        )
        files[f"{etc}/pgbouncer-repoint"] = repoint_script(host, cluster, settings)
    if "redis" in host.roles:
        password = redis_password(settings)
        for server in redis_servers(host, cluster):
            redis = {
                "redis_primary_port": server.port,
                "redis_replica_port": server.port,
                "data": host.data,
                "redis_primary_dir": server.service,
                "redis_replica_dir": server.service,
            }
            # A replica keeps the AOF (the continuous persistence), as on the local stack.
            # (The duty stays with the host after a failover: the file says what it keeps,
            # the start script what it follows.)
            template = "replica.conf" if server.primary else "primary.conf"
            conf = render((DEPLOY / "redis" / template).read_text(), redis)
            if password:
                # Every instance takes both: any one may be the primary or a replica after a failover.
                conf += (
                    "# The password of the settings' REDIS_URL (fab setup): clients and replicas give it.\n"
                    f"requirepass {password}\nmasterauth {password}\n"
                )
            files[f"{etc}/{server.service}.conf"] = conf
            files[f"{etc}/{server.service}-start.sh"] = redis_start_script(
                host,
                cluster,
                server,
                password=bool(password),
                sentinel_auth=bool(sentinel_password(settings)),
            )
        if sentinel_password(settings):
            files[sentinel_password_file(host)] = sentinel_password(settings)
    if "sentinel" in host.roles and cluster.redis_monitor:
        files[f"{etc}/sentinel.conf"] = render(
            (DEPLOY / "redis" / "sentinel.conf").read_text(),
            {
                "sentinel_port": host.services["sentinel_port"],
                "data": host.data,
                "sentinel_dir": "sentinel",
                "monitors": sentinel_monitors(cluster, redis_password(settings)),
            },
        )
        if sentinel_password(settings):
            files[f"{etc}/sentinel.conf"] += (
                "# REDIS_SENTINEL_PASSWORD (fab setup): the apps, the Redis start scripts and the\n"
                "# other Sentinels give it (they all share it).\n"
                f"requirepass {sentinel_password(settings)}\n"
            )
    return files


# Sentinel's timings on a fleet. The Redis servers are not restarted by their
# service manager (redis_start_script), so a primary silent this long is gone:
# the Sentinels promote its replica (docs/deploy.md).
SENTINEL_DOWN_AFTER_MS = 5000
SENTINEL_FAILOVER_TIMEOUT_MS = 10_000
REDIS_MAIN = "main"  # the main instance's Sentinel name (instagram/redis_client.py)


def sentinel_monitors(cluster: Cluster, password: str = "") -> str:
    """The `sentinel monitor` lines of each primary (main, each feed shard) at its first address.

    A majority of the Sentinels must agree a primary is down (the quorum).
    """
    quorum = len(cluster.redis_sentinels) // 2 + 1
    watched = [(REDIS_MAIN, cluster.redis_monitor or ""), *((s.name, s.primary) for s in cluster.redis_feeds)]
    lines = ""
    for name, primary in watched:
        address, _, port = primary.rpartition(":")
        lines += (
            f"sentinel monitor {name} {address} {port} {quorum}\n"
            f"sentinel down-after-milliseconds {name} {SENTINEL_DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {name} {SENTINEL_FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {name} 1\n"
            + (f"sentinel auth-pass {name} {password}\n" if password else "")
        )
    return lines


def redis_password(settings: dict[str, str]) -> str:
    """The Redis password: the one in the settings' REDIS_URL (redis://:<password>@host:port/0), or none."""
    password = urlsplit(settings.get("REDIS_URL", "")).password
    return unquote(password) if password else ""


def sentinel_password(settings: dict[str, str]) -> str:
    """The Sentinels' password: REDIS_SENTINEL_PASSWORD when the settings set it, else the Redis password.

    Without one (both unset, or REDIS_SENTINEL_PASSWORD set empty), anyone on
    the private network could ask them to fail over.
    """
    if "REDIS_SENTINEL_PASSWORD" in settings:
        return settings["REDIS_SENTINEL_PASSWORD"]
    return redis_password(settings)


def sentinel_password_file(host: Host) -> str:
    """The Sentinels' password on a redis host, for its Redis start scripts (mode 600, Redis's)."""
    return f"{folders(host)['etc']}/sentinel-password"


@dataclass(frozen=True)
class RedisServer:
    """One Redis instance of a redis host: the main one, or its part of a feed shard."""

    name: str  # its Sentinel name: main, feed-0 ...
    service: str  # redis, redis-feed-0 ...: its unit, files and data folder
    port: int
    primary: str  # the inventory's primary (address:port) on a replica; "" on that primary


def redis_servers(host: Host, cluster: Cluster) -> list[RedisServer]:
    """The Redis instances redis `host` runs: the main one, then its part of each feed shard."""
    servers = [RedisServer(REDIS_MAIN, "redis", host.services["redis_port"], cluster.redis_primary or "")]
    for shard in cluster.redis_feeds:
        port = host.services["redis_feed_port"] + shard.index
        if f"{host.address}:{port}" in {shard.primary, shard.replica}:
            primary = "" if f"{host.address}:{port}" == shard.primary else shard.primary
            servers.append(RedisServer(shard.name, f"redis-{shard.name}", port, primary))
    return servers


def secret_owner(host: Host, path: str) -> str | None:
    """The user who alone may read `path` (mode 600), for files that may hold a password; else None."""
    etc = folders(host)["etc"]
    owners = {
        f"{etc}/pgbouncer-users.txt": host.service_user,
        f"{etc}/pgpass": host.service_user,
        f"{etc}/sentinel.conf": "redis",
        sentinel_password_file(host): "redis",
    }
    folder, _, name = path.rpartition("/")
    if folder == etc and name.startswith("redis") and name.endswith(".conf"):
        return "redis"  # each Redis instance's file (requirepass)
    return owners.get(path)


def sentinel_state(host: Host) -> str:
    """The file a Sentinel runs from: a copy of the rendered one, which Sentinel then rewrites itself."""
    return f"{host.data}/sentinel/sentinel.conf"


def redis_start_script(
    host: Host, cluster: Cluster, server: RedisServer, *, password: bool = False, sentinel_auth: bool = False
) -> str:
    """The script that starts one Redis instance of the host as what the Sentinels say: primary or replica.

    Not from the inventory alone: after a failover the inventory's primary is a
    replica of the promoted one, and a Redis started again with `--replicaof`
    the old primary would follow a replica (or, on the old primary, come back
    as a second primary). Only when no Sentinel answers (the fleet's first
    start) does the inventory decide. The service manager does not restart
    Redis by itself (Service.autorestart): a crashed primary back within
    seconds would still be the Sentinels' primary, with only its last
    snapshot, and its replica would resync from it; it stays down until the
    Sentinels have promoted the replica and `fab setup` (or the operator)
    starts it again, as a replica. The Sentinels' password (`sentinel_auth`)
    is read from its own file (mode 600, Redis's: secret_owner) into
    redis-cli's environment (REDISCLI_AUTH), never on a command line nor in
    the script.
    """
    etc = folders(host)["etc"]
    # With a password (in the instance's file, never on the command line) protected mode stays on;
    # without one it would refuse the apps: the private network is then the boundary,
    # as for memcached and gearmand (docs/deploy.md).
    protected = "" if password else " --protected-mode no"
    inventory_primary = (server.primary or f"{host.address}:{server.port}").replace(":", " ")
    auth = (
        f'REDISCLI_AUTH="$(cat {sentinel_password_file(host)})"; export REDISCLI_AUTH\n'
        if sentinel_auth
        else ""
    )
    forget = "unset REDISCLI_AUTH\n" if sentinel_auth else ""  # Redis itself has no use for it
    return f"""#!/bin/sh
# Rendered by `fab setup` (deploy/fleet/services.py, redis_start_script):
# Redis ({server.name}) starts as what the Sentinels say it is now.
{auth}primary=""
for sentinel in {" ".join(cluster.redis_sentinels)}; do
    answer=$(timeout 2 redis-cli -h "${{sentinel%:*}}" -p "${{sentinel##*:}}" --raw \\
        SENTINEL get-master-addr-by-name {server.name} 2>/dev/null)
    set -- $answer
    if [ $# -eq 2 ]; then
        primary="$1 $2"
        break
    fi
done
{forget}if [ -z "$primary" ]; then
    primary="{inventory_primary}"
    echo "redis-start: no Sentinel answers: the inventory's primary, $primary" >&2
fi
if [ "$primary" = "{host.address} {server.port}" ]; then
    replicaof="no one"
else
    replicaof="$primary"
fi
echo "redis-start: replicaof $replicaof" >&2
# The template binds loopback only; the apps reach the host's address.
exec /usr/bin/redis-server {etc}/{server.service}.conf --bind {host.address} 127.0.0.1{protected} \\
    --replicaof $replicaof
"""


def pgbouncer_port(settings: dict[str, str]) -> int:
    """pgbouncer listens where the apps connect: the settings' DB_PORT."""
    return int(settings.get("DB_PORT", "6432"))


def pgpass_text(settings: dict[str, str]) -> str:
    """The service user's password file: replication, and repmgr's database as the superuser."""
    secret = replication_password(settings).replace("\\", "\\\\").replace(":", "\\:")
    return f"*:*:*:{REPLICATION_USER}:{secret}\n*:*:repmgr:postgres:{secret}\n"


def hook_ssh(host: Host) -> str:
    """The ssh command line repmgr's event hook on db `host` reaches a pgbouncer host with."""
    etc = folders(host)["etc"]
    return (
        f"ssh -F /dev/null -i {hook_key(host)} -o BatchMode=yes -o ConnectTimeout=3"
        f" -o StrictHostKeyChecking=yes -o UserKnownHostsFile={etc}/repmgr-hook-known_hosts"
    )


def repmgr_event_script(host: Host, cluster: Cluster) -> str:
    """repmgr's event hook on db `host`: when repmgrd promoted it, every pgbouncer is repointed at it.

    It runs as the service user (repmgrd's), reaches each pgbouncer host over
    SSH with its own key, which those hosts authorize for one forced command
    only (pgbouncer-repoint). The promoted node has no standby any more, so
    its commits stop waiting for one first.
    """
    run, log = folders(host)["run"], folders(host)["log"]
    me = f"{host.address}:{host.services['pg_port']}"
    targets = " ".join(f"{user}@{address}:{port}" for user, address, port in cluster.bouncers)
    return f"""#!/bin/sh
# repmgr's event hook on {host.name} (rendered by `fab setup`, deploy/fleet/services.py).
# usage: repmgr-event <node id> <event> <success>; it writes to {log}/repmgr-event.log
exec >>{log}/repmgr-event.log 2>&1
echo "$(date -u '+%F %T') repmgr-event: $2 on node $1 (success=$3)"
[ "$2" = repmgrd_failover_promote ] && [ "$3" = 1 ] || exit 0
{host.pg_bin}/psql -h {run} -p {host.services["pg_port"]} -U postgres -d postgres -Atq \\
    -c "ALTER SYSTEM RESET synchronous_standby_names" -c "SELECT pg_reload_conf()" \\
    || echo "repmgr-event: could not reset synchronous_standby_names"
repoint() {{
    {hook_ssh(host)} -p "${{1##*:}}" "${{1%:*}}" repoint {me}
}}
# Every pgbouncer host at once. One the hook cannot reach (ssh exits 255: the
# host is down or cut off; the old primary's own, when its network failed) is
# tried again every 5 s for 10 minutes, in the background: once it is back,
# its pgbouncer too stops sending anything to the old primary.
for target in {targets}; do
    (
        repoint "$target"; status=$?
        attempt=0
        while [ "$status" = 255 ] && [ "$attempt" -lt 120 ]; do
            [ "$attempt" = 0 ] && echo "repmgr-event: ${{target%:*}}: unreachable, trying again every 5 s"
            sleep 5; attempt=$((attempt + 1))
            repoint "$target"; status=$?
        done
        if [ "$status" = 0 ]; then
            echo "$(date -u '+%F %T') repmgr-event: ${{target%:*}}: pgbouncer points at {me}"
        else
            echo "$(date -u '+%F %T') repmgr-event: ${{target%:*}}: pgbouncer NOT repointed (exit $status)"
        fi
    ) &
done
"""


REPOINT = '''#!{python}
"""pgbouncer follows the PostgreSQL primary: the only command repmgr's event hook runs on this host.

Rendered by `fab setup` (deploy/fleet/services.py); authorized_keys names it as
the forced command of the db hosts' hook keys. The hook asks for
`repoint PRIMARY [STANDBY]` (address:port of db hosts of one cluster of the
inventory): the names of pgbouncer.ini's [databases] that cluster holds go to
PRIMARY, their `_replica` twins to STANDBY (PRIMARY when there is none), the
other clusters' lines stay as they are; then pgbouncer reloads.
"""

import os
import re
import subprocess
import sys

# Each cluster: its nodes (address:port) and the databases it holds.
CLUSTERS = {clusters!r}
INI = {ini!r}
RELOAD = {reload!r}
LINE = re.compile(r"^(\\w+) = host=\\S+ port=\\d+ (dbname=.*)$")


def main() -> int:
    words = (os.environ.get("SSH_ORIGINAL_COMMAND") or " ".join(sys.argv[1:])).split()
    held = next((names for nodes, names in CLUSTERS if set(words[1:]) <= set(nodes)), None)
    if not 2 <= len(words) <= 3 or words[0] != "repoint" or held is None:
        print("usage: repoint PRIMARY [STANDBY] (address:port of db hosts of one cluster)", file=sys.stderr)
        return 2
    primary, standby = words[1], words[-1]
    lines, section = [], ""
    with open(INI) as f:
        for line in f.read().splitlines():
            if line.startswith("["):
                section = line
            match = LINE.match(line)
            if section == "[databases]" and match and match[1].removesuffix("_replica") in held:
                host, _, port = (standby if match[1].endswith("_replica") else primary).rpartition(":")
                line = f"{{match[1]}} = host={{host}} port={{port}} {{match[2]}}"
            lines.append(line)
    with open(INI + ".next", "w") as f:
        f.write("\\n".join(lines) + "\\n")
    os.chmod(INI + ".next", 0o644)
    os.replace(INI + ".next", INI)
    subprocess.run(RELOAD, check=True)
    print(f"pgbouncer: {{', '.join(held)}} on primary {{primary}}, standby {{standby}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''


def repoint_script(host: Host, cluster: Cluster, settings: dict[str, str]) -> str:
    """The forced command of repmgr's hook keys on a pgbouncer host (REPOINT)."""
    reload = service_control(host, "signal HUP", f"{UNIT_PREFIX}pgbouncer")
    return REPOINT.format(
        python=host.python if host.python.startswith("/") else f"/usr/bin/env {host.python}",
        clusters=[[list(nodes), list(databases)] for nodes, databases in cluster.db_clusters]
        or [[[f"{address}:{port}" for _, address, port in cluster.db_nodes], database_names(settings)]],
        ini=f"{folders(host)['etc']}/pgbouncer.ini",
        reload=["/bin/sh", "-c", reload],
    )


def host_services(host: Host, settings: dict[str, str], cluster: Cluster = Cluster()) -> list[Service]:
    """Return the servers the host's roles run, in start order."""
    cluster = alone(host, cluster)
    etc, run = folders(host)["etc"], folders(host)["run"]
    services: list[Service] = []
    if "db" in host.roles:
        services.append(
            Service(
                name="postgresql",
                description="PostgreSQL (the shard cluster's node)",
                # The template listens on loopback (pgbouncer); the standby streams over the address.
                command=(
                    f"{host.pg_bin}/postgres -D {host.pg_data} -c config_file={etc}/postgresql.conf"
                    f" -c listen_addresses=127.0.0.1,{host.address}"
                ),
                user=host.service_user,
                port=host.services["pg_port"],
                stop_signal="INT",  # fast shutdown: roll back open transactions, checkpoint, exit
                files=(f"{etc}/postgresql.conf", f"{etc}/pg_hba.conf"),
                # archive_command (barman-cloud-wal-archive) reaches the object store with
                # these; a standby's walreceiver finds the replication password in PGPASSFILE.
                environment=(
                    *(
                        (name, settings[key])
                        for name, key in (
                            ("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
                            ("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
                            ("AWS_DEFAULT_REGION", "S3_REGION"),
                        )
                        if settings.get(key)
                    ),
                    ("PGPASSFILE", pgpass(host)),
                ),
                autorestart=False,
            )
        )
        services.append(
            Service(
                name="repmgrd",
                description="repmgrd (promotes the standby when the primary stays unreachable)",
                command=f"{host.pg_bin}/repmgrd -f {repmgr_conf(host)} --daemonize=false",
                user=host.service_user,
                port=0,
                files=(repmgr_conf(host),),
                environment=(("PGPASSFILE", pgpass(host)),),
                late=True,
            )
        )
    if runs_bouncer(host) and cluster.pg_primary:
        services.append(
            Service(
                name="pgbouncer",
                description="pgbouncer (transaction pooling in front of PostgreSQL)",
                command=f"/usr/sbin/pgbouncer {etc}/pgbouncer.ini",
                user=host.service_user,
                port=pgbouncer_port(settings),
                files=(f"{etc}/pgbouncer.ini", f"{etc}/pgbouncer-users.txt"),
            )
        )
    if "redis" in host.roles:
        for server in redis_servers(host, cluster):
            services.append(
                Service(
                    name=server.service,
                    description=f"Redis ({'main' if server.name == REDIS_MAIN else server.name})",
                    # A primary or a replica of the primary the Sentinels name (redis_start_script).
                    command=f"/bin/sh {etc}/{server.service}-start.sh",
                    user="redis",
                    port=server.port,
                    files=(f"{etc}/{server.service}.conf", f"{etc}/{server.service}-start.sh"),
                    autorestart=False,
                )
            )
    if "sentinel" in host.roles and cluster.redis_monitor:
        services.append(
            Service(
                name="sentinel",
                description="Redis Sentinel (promotes a replica when the primary is lost)",
                # Its own copy of the rendered file (sentinel_state): not in `files`,
                # so the rewrites Sentinel makes there never count as a change.
                command=f"/usr/bin/redis-sentinel {sentinel_state(host)} --bind {host.address} 127.0.0.1",
                user="redis",
                port=host.services["sentinel_port"],
            )
        )
    if "cache" in host.roles:
        port = host.services["memcached_port"]
        services.append(
            Service(
                name="memcached",
                description="memcached (the object cache)",
                command=f"/usr/bin/memcached -l {host.address},127.0.0.1 -p {port} -U 0 -m 64 -c 1024",
                user="memcache",
                port=port,
            )
        )
    if "gearman" in host.roles:
        port = host.services["gearman_port"]
        # libsqlite3 keeps every queued job on disk until a worker finishes it.
        # gearmand listens on one address or all: all of this host's.
        services.append(
            Service(
                name="gearmand",
                description="gearmand (the job server, persistent queue)",
                command=(
                    f"/usr/sbin/gearmand -p {port} -t 2 -q libsqlite3"
                    f" --libsqlite3-db={host.data}/gearmand/queue.sqlite3 --log-file=stderr"
                    f" --verbose=WARNING --pid-file={run}/gearmand.pid"
                ),
                user="gearman",
                port=port,
            )
        )
    return services


def data_folders(host: Host, services: list[Service]) -> dict[str, str]:
    """The data folders of the host's servers, each owned by its server's user."""
    owned = {"sentinel": f"{host.data}/sentinel", "gearmand": f"{host.data}/gearmand"}
    # Each Redis instance's own (main: redis, feed shard i: redis-feed-<i>).
    owned |= {s.name: f"{host.data}/{s.name}" for s in services if s.name.startswith("redis")}
    result = {owned[s.name]: s.user for s in services if s.name in owned}
    if "db" in host.roles:
        result[host.pg_data] = host.service_user
    return result


# ---------------------------------------------------------------- rendering for a service manager


def environment_file(host: Host, service: Service) -> str:
    """The file (mode 600) a systemd unit reads its secrets from."""
    return f"{folders(host)['etc']}/{service.name}.env"


def systemd_unit(host: Host, service: Service) -> str:
    """Return the systemd unit of `service` (real hosts)."""
    secrets = [f"EnvironmentFile={environment_file(host, service)}"] if service.environment else []
    return unit_file(
        rendered_by="deploy/fleet/services.py",
        description=service.description,
        service=[f"User={service.user}", *secrets, f"ExecStart={service.command}"],
        kill_signal=service.stop_signal,
        restart=service.autorestart,
    )


def unit_file(
    *, rendered_by: str, description: str, service: list[str], kill_signal: str, restart: bool
) -> str:
    """A unit of ours: `service` lines, then the stop, restart and file limits every unit shares."""
    return "\n".join(
        [
            f"# Rendered by `fab setup` ({rendered_by}).",
            "[Unit]",
            f"Description=Instagram: {description}",
            "After=network-online.target",
            "Wants=network-online.target",
            "",
            "[Service]",
            *service,
            f"KillSignal=SIG{kill_signal}",
            "TimeoutStopSec=60",
            f"Restart={'always' if restart else 'no'}",
            "RestartSec=1",
            "LimitNOFILE=65536",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


def supervisord_conf(host: Host, services: list[Service]) -> str:
    """Return the supervisord.conf that stands in for systemd on `host` (the fleet test's hosts)."""
    f = folders(host)
    lines = [
        "; Rendered by `fab setup` (deploy/fleet/services.py): the host's servers, without systemd.",
        "[unix_http_server]",
        f"file = {f['run']}/supervisor.sock",
        "chmod = 0700",
        "",
        "[supervisord]",
        f"logfile = {f['log']}/supervisord.log",
        f"pidfile = {f['run']}/supervisord.pid",
        f"childlogdir = {f['log']}",
        f"directory = {host.root}",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl = unix://{f['run']}/supervisor.sock",
    ]
    for service in services:
        lines += [
            "",
            f"; {service.description}",
            f"[program:{service.unit}]",
            f"command = {service.command}",
            f"user = {service.user}",
            *(
                ["environment = " + ",".join(f'{key}="{value}"' for key, value in service.environment)]
                if service.environment
                else []
            ),
            f"autostart = {'false' if service.late else 'true'}",
            f"autorestart = {str(service.autorestart).lower()}",
            "startsecs = 0",
            f"stopsignal = {service.stop_signal}",
            "stopwaitsecs = 60",
            "redirect_stderr = true",
            f"stdout_logfile = {f['log']}/{service.name}.log",
        ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- provisioning


Say = Callable[[str], None]


def supervisor_paths(host: Host) -> tuple[str, str]:
    """The services' supervisord.conf and supervisorctl wrapper on a supervisord host."""
    base = host.path("shared", "services")
    return f"{base}/supervisord.conf", f"{base}/bin/supervisorctl"


def write_file(remote: Remote, path: str, content: str, *, mode: str = "644") -> bool:
    """Write `content` to `path` unless it already holds it; return whether it changed."""
    remote.put(io.BytesIO(content.encode()), f"{path}.next", step="setup: services")
    if remote.test(f"cmp -s {q(path)}.next {q(path)}", step="setup: services"):
        remote.run(f"rm -f {q(path)}.next", step="setup: services")
        return False
    remote.run(f"chmod {mode} {q(path)}.next && mv {q(path)}.next {q(path)}", step="setup: services")
    return True


def ensure_packages(remote: Remote, host: Host, say: Say) -> None:
    """Install the Debian packages the host's roles need (nothing when all are there)."""
    wanted = sorted({pkg for role in host.roles for pkg in PACKAGES.get(role, ())})
    if not wanted:
        return
    listing = remote.run(
        f"dpkg-query -W -f '${{Package}} ${{db:Status-Status}}\\n' {' '.join(wanted)} 2>/dev/null; true",
        step="setup: packages",
    )
    installed = {line.split()[0] for line in listing.splitlines() if line.endswith(" installed")}
    missing = [pkg for pkg in wanted if pkg not in installed]
    if missing:
        say(f"installing {', '.join(missing)}")
        remote.run(
            "DEBIAN_FRONTEND=noninteractive apt-get install -y -q " + " ".join(missing),
            step="setup: apt-get install",
        )


def install_supervisor(remote: Remote, host: Host, wheel: Path, say: Say) -> bool:
    """Unpack supervisor's wheel on a supervisord host (once) and write its supervisorctl wrapper."""
    base = host.path("shared", "services")
    lib = f"{base}/lib/{wheel.stem}"
    if remote.test(f"test -f {q(lib)}/.complete", step="setup: supervisor"):
        return False
    say(f"installing {wheel.name} for the host's services")
    remote.run(f"mkdir -p {q(base)}/lib {q(base)}/bin", step="setup: supervisor")
    remote.put(wheel, f"{base}/lib/{wheel.name}", step="setup: supervisor")
    remote.run(
        f"rm -rf {q(lib)} && {q(host.python)} -m zipfile -e {q(base)}/lib/{q(wheel.name)} {q(lib)}"
        f" && rm -f {q(base)}/lib/{q(wheel.name)} && ln -sfn {q(lib)} {q(base)}/lib/current"
        f" && touch {q(lib)}/.complete",
        step="setup: supervisor",
    )
    for tool in ("supervisord", "supervisorctl"):
        script = f'#!/bin/sh\nPYTHONPATH={base}/lib/current exec {host.python} -m supervisor.{tool} "$@"\n'
        write_file(remote, f"{base}/bin/{tool}", script, mode="755")
    return True


def provision(
    remote: Remote,
    host: Host,
    settings: dict[str, str],
    *,
    wheel: Path | None,
    say: Say,
    cluster: Cluster = Cluster(),
) -> None:
    """Install, configure and start the servers of the host's db, redis, cache and gearman roles."""
    if host.service_manager == "none":
        return
    cluster = alone(host, cluster)
    services = host_services(host, settings, cluster)
    ensure_packages(remote, host, say)
    if not services:
        return
    f = folders(host)
    changed: list[str] = []
    data = data_folders(host, services)
    remote.run(
        f"mkdir -p {q(f['etc'])} {q(f['run'])} {q(f['log'])} {' '.join(q(d) for d in data)}",
        step="setup: services",
    )
    for folder, user in data.items():
        remote.run(f"chown {q(user)}: {q(folder)} && chmod 700 {q(folder)}", step="setup: services")
    # The socket folder: PostgreSQL writes its socket there, pgbouncer and gearmand their files.
    remote.run(f"chmod 1777 {q(f['run'])}", step="setup: services")
    if "db" in host.roles:
        # repmgr's event hook (the service user) writes its log there.
        hook_log = f"{f['log']}/repmgr-event.log"
        remote.run(
            f"touch {q(hook_log)} && chown {q(host.service_user)}: {q(hook_log)}", step="setup: services"
        )
    for path, content in host_files(host, settings, cluster).items():
        owner = secret_owner(host, path)
        mode = "600" if owner else "755" if content.startswith("#!") else "644"
        if write_file(remote, path, content, mode=mode):
            changed.append(path)
        if owner:
            remote.run(f"chown {q(owner)}: {q(path)}", step="setup: services")
    if any(s.name == "sentinel" for s in services):
        rendered = f"{f['etc']}/sentinel.conf"
        if seed_sentinel(remote, host, say):
            changed.append(sentinel_state(host))
        elif rendered in changed:
            say(f"{rendered} changed: the running Sentinels keep their own files (docs/deploy.md)")
    new_cluster = "db" in host.roles and not remote.test(
        f"test -f {q(host.pg_data)}/PG_VERSION", step="setup: db"
    )
    # A node that is no standby (a primary repmgrd replaced) must not start as a second primary.
    if (
        "db" in host.roles
        and cluster.db_primary
        and not new_cluster
        and not remote.test(f"test -f {q(host.pg_data)}/standby.signal", step="setup: db")
    ):
        raise ServiceError(
            f"{host.name} holds a PostgreSQL cluster that is no standby of the primary"
            f" {cluster.db_primary}: `fab -H {host.name} rejoin` makes it one"
        )
    if new_cluster and cluster.db_primary:
        clone_standby(remote, host, settings, cluster.db_primary, say)
        changed.append("pg_basebackup")
    elif new_cluster:
        say("initdb: a new PostgreSQL cluster")
        remote.run(
            f"runuser -u {q(host.service_user)} -- {q(host.pg_bin)}/initdb -D {q(host.pg_data)} -U postgres"
            " --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8",
            step="setup: initdb",
        )
        changed.append("initdb")
    if host.service_manager == "supervisord":
        if wheel is None:
            raise ServiceError("supervisord hosts need supervisor's wheel")
        if install_supervisor(remote, host, wheel, say):
            changed.append("supervisor")
        started = start_supervisord(remote, host, services, changed, say)
    else:
        started = start_systemd(remote, host, services, changed, say)
    for service in services:
        if not service.late:
            wait_listening(remote, host, service)
    if (
        "db" in host.roles
        and not cluster.db_primary
        and create_databases(remote, host, settings, say, cluster.databases)
    ):
        started = True
    if "db" in host.roles and register_node(remote, host, settings, cluster, say):
        started = True
    if start_late(remote, host, services, say):
        started = True
    if runs_bouncer(host) and authorize_hook(remote, host, cluster):
        say("repmgr's hook keys authorized for pgbouncer-repoint")
        started = True
    if not changed and not started:
        say("services: unchanged")


def seed_sentinel(remote: Remote, host: Host, say: Say) -> bool:
    """Give the Sentinel its file from the rendered one, once; return whether it was new.

    From its first start the Sentinel owns that file: it records there the
    current primary, the replicas and its peers, and rewrites it at every
    change. A later `fab setup` leaves it alone, so a setup after a failover
    does not point the Sentinels back at the old primary. A changed rendered
    file (say, another down-after) is applied with SENTINEL SET, or by removing
    the Sentinel's file and starting it again (docs/deploy.md).
    """
    state, rendered = sentinel_state(host), f"{folders(host)['etc']}/sentinel.conf"
    if remote.test(f"test -f {q(state)}", step="setup: sentinel"):
        return False
    remote.run(
        f"cp {q(rendered)} {q(state)}.next && chown redis: {q(state)}.next && chmod 600 {q(state)}.next"
        f" && mv {q(state)}.next {q(state)}",
        step="setup: sentinel",
    )
    say(f"Sentinel's file {state} written from {rendered}")
    return True


def restart_set(host: Host, services: list[Service], changed: list[str]) -> list[Service]:
    """The services whose configuration or secrets file is among the `changed` paths."""
    return [s for s in services if {*s.files, environment_file(host, s)} & set(changed)]


def start_supervisord(
    remote: Remote, host: Host, services: list[Service], changed: list[str], say: Say
) -> bool:
    """Start the services' supervisord, or apply what changed to the running one.

    Returns whether anything started or restarted.
    """
    conf, ctl = supervisor_paths(host)
    supervisord = ctl.replace("supervisorctl", "supervisord")
    # Mode 600: the programs' environment holds secrets.
    conf_changed = write_file(remote, conf, supervisord_conf(host, services), mode="600")
    running = remote.test(
        f"{q(ctl)} -c {q(conf)} pid 2>/dev/null | grep -qE '^[0-9]+$'", step="setup: services"
    )
    if not running:
        remote.run(f"{q(supervisord)} -c {q(conf)}", step="setup: supervisord")
        say(f"services started: {', '.join(s.unit for s in services if not s.late)}")
        return True
    acted = False
    if conf_changed:
        out = remote.run(f"{q(ctl)} -c {q(conf)} update", step="setup: supervisord")
        say(f"services updated: {' '.join(out.split()) or 'nothing'}")
        acted = True
    restarted = restart_set(host, services, changed)
    for service in restarted:
        remote.run(f"{q(ctl)} -c {q(conf)} restart {q(service.unit)}", step=f"setup: restart {service.name}")
        say(f"{service.unit} restarted (its configuration changed)")
        acted = True
    # A server that stopped and is not restarted by supervisord (Redis) starts
    # again, as systemctl's `enable --now` starts an inactive unit.
    status = remote.run(f"{q(ctl)} -c {q(conf)} status", step="setup: supervisord", check=False)
    up = {line.split()[0] for line in status.splitlines() if line.split()[1:2] == ["RUNNING"]}
    for service in services:
        if service not in restarted and service.unit not in up:
            remote.run(f"{q(ctl)} -c {q(conf)} start {q(service.unit)}", step=f"setup: start {service.name}")
            say(f"{service.unit} started (it was stopped)")
            acted = True
    return acted


# The units Debian's packages enable and start on their own when installed,
# on the ports fab's servers take (PostgreSQL's cluster: park_package_cluster).
PACKAGE_UNITS = {
    "postgresql": ("postgresql.service",),
    "pgbouncer": ("pgbouncer.service",),
    "redis": ("redis-server.service",),
    "sentinel": ("redis-sentinel.service",),
    "memcached": ("memcached.service",),
    "gearmand": ("gearman-job-server.service",),
}


def disable_package_units(remote: Remote, host: Host, services: list[Service], say: Say) -> None:
    """Stop and disable what the packages started on the ports fab's units take."""
    for service in services:
        for unit in PACKAGE_UNITS.get(service.name, ()):
            if remote.test(f"systemctl is-enabled -q {unit}", step="setup: systemd"):
                remote.run(f"systemctl disable --now {unit}", step="setup: systemd")
                say(f"{unit} (the package's own) disabled: {service.unit} takes its port")
        if service.name == "postgresql":
            park_package_cluster(remote, host, say)


def park_package_cluster(remote: Remote, host: Host, say: Say) -> None:
    """Stop the cluster Debian's PostgreSQL package created (`<version>-main`, port 5432), for good.

    Its unit, postgresql@<version>-main, is made at boot by the package's
    systemd generator from the cluster's start.conf, so it is not disabled
    but set to `manual` there (pg_ctlcluster can still start it by hand) and
    stopped. Its data is left alone. The version is the host's PostgreSQL
    binaries' (/usr/lib/postgresql/<version>/bin).
    """
    version = Path(host.pg_bin).parent.name
    if not version.isdigit():
        return
    start_conf = f"/etc/postgresql/{version}/main/start.conf"
    if not remote.test(f"grep -qx auto {start_conf}", step="setup: systemd"):  # started at boot
        return
    remote.run(
        f"sed -i 's/^auto$/manual/' {start_conf} && systemctl stop postgresql@{version}-main.service",
        step="setup: systemd",
    )
    say(f"the package's cluster {version}/main stopped and set to start by hand: port 5432 is fab's")


def start_systemd(remote: Remote, host: Host, services: list[Service], changed: list[str], say: Say) -> bool:
    """Write the units, enable and start them, restart those whose files changed."""
    acted = False
    disable_package_units(remote, host, services, say)
    for service in services:
        if service.environment:
            secrets = "".join(f"{key}={value}\n" for key, value in service.environment)
            if write_file(remote, environment_file(host, service), secrets, mode="600"):
                changed.append(environment_file(host, service))
    units_changed = [
        s
        for s in services
        if write_file(remote, f"/etc/systemd/system/{s.unit}.service", systemd_unit(host, s))
    ]
    if units_changed:
        remote.run("systemctl daemon-reload", step="setup: systemd")
    for service in services:
        active = remote.test(f"systemctl is-active -q {q(service.unit)}", step="setup: systemd")
        if not active and service.late:
            continue  # provision() starts it once its node is registered (start_late)
        if not active:
            remote.run(f"systemctl enable --now {q(service.unit)}", step=f"setup: start {service.name}")
            say(f"{service.unit} started")
            acted = True
        elif service in units_changed or service in restart_set(host, services, changed):
            remote.run(f"systemctl restart {q(service.unit)}", step=f"setup: restart {service.name}")
            say(f"{service.unit} restarted (its unit or configuration changed)")
            acted = True
    return acted


# Waits on the host until a port accepts connections on 127.0.0.1.
PORT_PROBE = """
import socket, sys, time
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    with socket.socket() as s:
        s.settimeout(0.5)
        if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0:
            sys.exit(0)
    time.sleep(0.1)
sys.exit(1)
"""


def wait_listening(remote: Remote, host: Host, service: Service, timeout: float = 60) -> None:
    if not service.port or remote.test(
        f"{q(host.python)} -c {q(PORT_PROBE)} {service.port} {timeout:.0f}", step="setup: wait"
    ):
        return
    if host.service_manager == "supervisord":
        log = remote.run(f"tail -n 20 {q(folders(host)['log'])}/{service.name}.log", step="log", check=False)
    else:
        log = remote.run(f"journalctl -n 20 --no-pager -u {q(service.unit)}", step="log", check=False)
    raise ServiceError(f"{service.unit} does not listen on port {service.port} after {timeout:.0f}s:\n{log}")


def psql(remote: Remote, host: Host, sql: str, *, step: str) -> str:
    """Run `sql` as PostgreSQL's superuser over the host's unix socket."""
    return remote.run(
        f"runuser -u {q(host.service_user)} -- psql -h {q(folders(host)['run'])}"
        f" -p {host.services['pg_port']} -U postgres -d postgres -v ON_ERROR_STOP=1 -Atqc {q(sql)}",
        step=step,
    ).strip()


def replication_password(settings: dict[str, str]) -> str:
    return settings.get("DB_REPLICATION_PASSWORD") or settings.get("DB_PASSWORD", "instagram")


def clone_standby(remote: Remote, host: Host, settings: dict[str, str], primary: str, say: Say) -> None:
    """Make the host's PostgreSQL a streaming standby of `primary` (address:port) with pg_basebackup.

    The primary may still be starting (hosts are set up in parallel): the
    clone is tried again for two minutes.
    """
    address, _, port = primary.rpartition(":")
    say(f"pg_basebackup from {primary}: a new standby")
    # It streams under its repmgr node name (the host's), as `repmgr standby
    # follow` and `node rejoin` write it: synchronous_standby_names lists those.
    source = f"host={address} port={port} user={REPLICATION_USER} application_name={host.name}"
    clone = (
        f"runuser -u {q(host.service_user)} -- env PGPASSFILE={q(pgpass(host))}"
        f" {q(host.pg_bin)}/pg_basebackup -d {q(source)} -D {q(host.pg_data)} -R -X stream -c fast"
    )
    remote.run(
        f"for attempt in $(seq 60); do {clone} && exit 0; rm -rf {q(host.pg_data)}/*; sleep 2; done;"
        f" echo 'pg_basebackup from {primary} failed for two minutes' >&2; exit 1",
        step="setup: pg_basebackup",
    )


def create_databases(
    remote: Remote, host: Host, settings: dict[str, str], say: Say, databases: tuple[str, ...] = ()
) -> bool:
    """Create the app's role and the cluster's databases once; return whether anything was created.

    `databases`: the pgbouncer names its cluster holds (empty: every database of the settings).
    """
    user = settings.get("DB_USER", "instagram")
    password = settings.get("DB_PASSWORD", "instagram").replace("'", "''")
    created = False
    roles = psql(remote, host, "SELECT string_agg(rolname, ',') FROM pg_roles", step="setup: db").split(",")
    if user not in roles:
        psql(remote, host, f"CREATE ROLE \"{user}\" LOGIN PASSWORD '{password}'", step="setup: db role")
        say(f"PostgreSQL role {user} created")
        created = True
    if REPLICATION_USER not in roles:
        secret = replication_password(settings).replace("'", "''")
        psql(
            remote,
            host,
            f"CREATE ROLE {REPLICATION_USER} REPLICATION LOGIN PASSWORD '{secret}'",
            step="setup: db role",
        )
        say(f"PostgreSQL role {REPLICATION_USER} created")
        created = True
    # repmgr of the other db host reaches this one's repmgr database as the superuser (pgpass).
    if (
        psql(
            remote,
            host,
            "SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = 'postgres'",
            step="setup: db",
        )
        == "t"
    ):
        secret = replication_password(settings).replace("'", "''")
        psql(remote, host, f"ALTER ROLE postgres PASSWORD '{secret}'", step="setup: db role")
        say("PostgreSQL role postgres given its password (repmgr between the db hosts)")
        created = True
    existing = psql(remote, host, "SELECT string_agg(datname, ',') FROM pg_database", step="setup: db").split(
        ","
    )
    for name in (pg_database(alias) for alias in databases or database_names(settings)):
        if name not in existing:
            psql(remote, host, f'CREATE DATABASE {name} OWNER "{user}"', step="setup: db")
            # Fixed per database, so no session-level SET leaks through pgbouncer.
            psql(remote, host, f"ALTER DATABASE {name} SET timezone TO 'UTC'", step="setup: db")
            say(f"database {name} created")
            created = True
    return created


# ---------------------------------------------------------------- repmgr


def repmgr_command(host: Host, *args: str) -> str:
    """`repmgr -f <the host's repmgr.conf> args...` as the service user, with its password file."""
    # From /: the service user may not enter root's working folder (its tools complain or fail).
    return (
        f"cd / && runuser -u {q(host.service_user)} -- env PGPASSFILE={q(pgpass(host))}"
        f" {q(host.pg_bin)}/repmgr -f {q(repmgr_conf(host))} {' '.join(args)}"
    )


def prepare_db(remote: Remote, host: Host, say: Say) -> tuple[str, str]:
    """Before the hosts are provisioned: the db host's hook key (made once) and its PostgreSQL's role.

    Returns ("primary", "standby" or "" when PostgreSQL does not answer, the
    public key). `fab setup` asks every db host, so a primary repmgrd promoted
    stays the primary in what it renders.
    """
    ensure_packages(remote, host, say)
    etc, key = folders(host)["etc"], hook_key(host)
    remote.run(
        f"mkdir -p {q(etc)} && (test -f {q(key)} || ssh-keygen -q -t ed25519 -N ''"
        f" -C instagram-repmgr-hook@{q(host.name)} -f {q(key)})"
        f" && chown {q(host.service_user)}: {q(key)} {q(key)}.pub",
        step="setup: repmgr hook key",
    )
    public = remote.run(f"cat {q(key)}.pub", step="setup: repmgr hook key").strip()
    answer = remote.run(
        f"runuser -u {q(host.service_user)} -- env PGCONNECT_TIMEOUT=3 psql -h {q(folders(host)['run'])}"
        f" -p {host.services['pg_port']} -U postgres -d postgres -Atqc 'SELECT pg_is_in_recovery()'"
        " 2>/dev/null; true",
        step="setup: db role",
    ).strip()
    return {"f": "primary", "t": "standby"}.get(answer, ""), public


def registered(remote: Remote, host: Host, node_id: int) -> bool:
    """Whether repmgr's metadata (read on the host's own node) has a record for `node_id`."""
    sql = f"SELECT 1 FROM repmgr.nodes WHERE node_id = {int(node_id)}"  # noqa: S608 (an int)
    return remote.test(
        f"runuser -u {q(host.service_user)} -- psql -h {q(folders(host)['run'])}"
        f" -p {host.services['pg_port']} -U postgres -d repmgr -Atqc {q(sql)} 2>/dev/null | grep -qx 1",
        step="setup: repmgr",
    )


def register_standby(remote: Remote, host: Host, *, step: str) -> None:
    """`repmgr standby register`, tried again every 2 s for two minutes.

    The primary may still be registering itself (setup runs the db hosts in
    parallel), and a standby just started listens before it reaches a
    consistent state, refusing connections meanwhile.
    """
    register = repmgr_command(host, "standby", "register", "--force")
    remote.run(
        f"for attempt in $(seq 60); do {register} && exit 0; sleep 2; done;"
        " echo 'repmgr standby register failed for two minutes' >&2; exit 1",
        step=step,
    )


def sync_standby_names(cluster: Cluster) -> str:
    """Commits on the primary wait for one standby, whichever node it is (named by its host)."""
    return "ANY 1 ({})".format(", ".join(f'"{name}"' for name, _, _ in cluster.db_nodes))


def register_node(remote: Remote, host: Host, settings: dict[str, str], cluster: Cluster, say: Say) -> bool:
    """Register the db host's node with repmgr once (the primary first; a standby waits for it).

    On a standby, then: once it streams, the primary's commits wait for it
    (synchronous replication), so no acknowledged write is missing from the
    node repmgrd promotes. Returns whether anything changed.
    """
    node_id = repmgr_node(host, cluster)
    acted = False
    if not cluster.db_primary:
        if (
            psql(
                remote,
                host,
                "SELECT count(*) FROM pg_database WHERE datname = 'repmgr'",
                step="setup: repmgr",
            )
            == "0"
        ):
            psql(remote, host, "CREATE DATABASE repmgr", step="setup: repmgr")
        if not registered(remote, host, node_id):
            remote.run(repmgr_command(host, "primary", "register"), step="setup: repmgr primary register")
            say(f"repmgr: {host.name} registered as the primary (node {node_id})")
            acted = True
        return acted
    if not registered(remote, host, node_id):
        # The primary registers itself in parallel: try again for two minutes.
        register_standby(remote, host, step="setup: repmgr standby register")
        say(f"repmgr: {host.name} registered as a standby (node {node_id})")
        acted = True
    return require_sync(remote, host, cluster, say) or acted


def require_sync(remote: Remote, host: Host, cluster: Cluster, say: Say) -> bool:
    """Once standby `host` streams, make the primary's commits wait for it; return whether that changed."""
    address, _, port = (cluster.db_primary or "").rpartition(":")
    on_primary = (
        f"cd / && runuser -u {q(host.service_user)} -- env PGPASSFILE={q(pgpass(host))} psql"
        f" {q(f'host={address} port={port} user=postgres dbname=repmgr connect_timeout=5')}"
        " -v ON_ERROR_STOP=1 -Atqc"
    )
    wanted = sync_standby_names(cluster)
    if remote.run(f"{on_primary} 'SHOW synchronous_standby_names'", step="setup: sync").strip() == wanted:
        return False
    streaming = (
        "SELECT count(*) FROM pg_stat_replication"  # noqa: S608 (an inventory name, quoted)
        f" WHERE application_name = {sql_literal(host.name)} AND state = 'streaming'"
    )
    remote.run(
        f"for attempt in $(seq 60); do {on_primary} {q(streaming)} | grep -qx 1 && exit 0; sleep 1; done;"
        f" echo '{host.name} does not stream from {cluster.db_primary} after a minute' >&2; exit 1",
        step="setup: standby streaming",
    )
    remote.run(
        f"{on_primary} {q(f'ALTER SYSTEM SET synchronous_standby_names = {sql_literal(wanted)}')}"
        f" && {on_primary} 'SELECT pg_reload_conf()'",
        step="setup: sync",
    )
    say(f"synchronous replication: commits on {cluster.db_primary} wait for {wanted}")
    return True


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def start_late(remote: Remote, host: Host, services: list[Service], say: Say) -> bool:
    """Start the services that wait for the node's registration (repmgrd); return whether any started."""
    acted = False
    for service in services:
        if not service.late:
            continue
        if host.service_manager == "supervisord":
            conf, ctl = supervisor_paths(host)
            status = remote.run(f"{q(ctl)} -c {q(conf)} status {q(service.unit)}", step="setup", check=False)
            if "RUNNING" in status:
                continue
        elif remote.test(f"systemctl is-active -q {q(service.unit)}", step="setup: systemd"):
            continue
        verb = "start" if host.service_manager == "supervisord" else "enable --now"
        remote.run(service_control(host, verb, service.unit), step=f"setup: start {service.name}")
        say(f"{service.unit} started")
        acted = True
    return acted


HOOK_MARK = "instagram-repmgr-hook@"


def authorize_hook(remote: Remote, host: Host, cluster: Cluster) -> bool:
    """Let the db hosts' hook keys run pgbouncer-repoint on this host, and nothing else.

    The inventory's `authorized_keys` (the SSH user's, by default) keeps its
    other lines; the hook's are replaced. Returns whether the file changed.
    """
    path = host.authorized_keys
    shell_path = f'"$HOME"/{q(path[2:])}' if path.startswith("~/") else q(path)
    current = remote.run(f"cat {shell_path} 2>/dev/null; true", step="setup: authorized_keys")
    repoint = f"{folders(host)['etc']}/pgbouncer-repoint"
    lines = [line for line in current.splitlines() if HOOK_MARK not in line]
    lines += [f'restrict,command="{repoint}" {key}' for key in cluster.hook_keys]
    wanted = "".join(f"{line}\n" for line in lines)
    if wanted == current:
        return False
    resolved = remote.run(f"echo {shell_path}", step="setup: authorized_keys").strip()
    remote.run(f'mkdir -p -m 700 "$(dirname {q(resolved)})"', step="setup: authorized_keys")
    return write_file(remote, resolved, wanted, mode="600")


def rejoin_node(remote: Remote, host: Host, settings: dict[str, str], cluster: Cluster, say: Say) -> None:
    """Make db `host`, a primary repmgrd replaced, a standby of the new primary (`fab rejoin`).

    Its PostgreSQL is stopped (it may be running as a second primary, fenced
    out of every pgbouncer), its data moved aside, cloned again from the
    primary (`repmgr standby clone`), started by the service manager,
    registered again, and its repmgrd started; the primary's commits wait for
    it again once it streams. (`repmgr node rejoin --force-rewind` would copy
    less, but rewinding a node that crashed did not leave it on the new
    timeline in our runs: a clone always does.)
    """
    cluster = alone(host, cluster)
    if not cluster.db_primary:
        raise ServiceError(f"{host.name} is the primary: there is nothing to rejoin")
    units = f"{UNIT_PREFIX}repmgrd {UNIT_PREFIX}postgresql"
    conf, ctl = supervisor_paths(host)
    supervised = host.service_manager == "supervisord" and remote.test(
        f"{q(ctl)} -c {q(conf)} pid 2>/dev/null | grep -qE '^[0-9]+$'", step="rejoin"
    )
    if host.service_manager == "systemd":
        remote.run(f"systemctl stop {units}", step="rejoin: stop")
    elif supervised:
        remote.run(f"{q(ctl)} -c {q(conf)} stop {units}", step="rejoin: stop", check=False)
    as_user = f"runuser -u {q(host.service_user)} --"
    if not remote.test(
        f"{as_user} {q(host.pg_bin)}/pg_ctl status -D {q(host.pg_data)} >/dev/null; test $? = 3",
        step="rejoin",
    ):
        raise ServiceError(f"PostgreSQL still runs on {host.name} outside its service manager: stop it first")
    # Its data may hold commits the new primary never saw (none acknowledged:
    # commits waited for the standby); kept aside for a post-mortem, replacing an older copy.
    aside = f"{host.pg_data}.diverged"
    remote.run(
        f"rm -rf {q(aside)} && mv {q(host.pg_data)} {q(aside)} && mkdir -m 700 {q(host.pg_data)}"
        f" && chown {q(host.service_user)}: {q(host.pg_data)}",
        step="rejoin: move aside",
    )
    say(f"its data moved aside to {aside}")
    address, _, port = cluster.db_primary.rpartition(":")
    output = remote.run(
        repmgr_command(
            host,
            "-h",
            q(address),
            "-p",
            q(port),
            "-U",
            "postgres",
            "-d",
            "repmgr",
            "standby",
            "clone",
            "--fast-checkpoint",
        )
        + " 2>&1",
        step="rejoin: repmgr standby clone",
    )
    for line in output.splitlines():
        if line.startswith(("NOTICE", "ERROR", "WARNING")):
            say(line)
    if host.service_manager == "systemd":
        remote.run(f"systemctl start {UNIT_PREFIX}postgresql", step="rejoin: start")
    elif supervised:
        remote.run(f"{q(ctl)} -c {q(conf)} start {UNIT_PREFIX}postgresql", step="rejoin: start")
    else:
        supervisord = ctl.replace("supervisorctl", "supervisord")
        remote.run(f"{q(supervisord)} -c {q(conf)}", step="rejoin: supervisord")
    services = host_services(host, settings, cluster)
    for service in services:
        if not service.late:
            wait_listening(remote, host, service)
    # It listens before it is consistent ("the database system is starting up"): retried.
    register_standby(remote, host, step="rejoin: repmgr standby register")
    say(f"repmgr: {host.name} registered as a standby of {cluster.db_primary}")
    start_late(remote, host, services, say)
    require_sync(remote, host, cluster, say)
