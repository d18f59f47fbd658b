"""What `fab setup` gives each role: settings and the topology file, nginx on the lb hosts."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from invoke.exceptions import Exit

from deploy.fleet.inventory import RELEASE_ROLES, ROOT, DbClusterSpec, Host, Inventory
from deploy.fleet.remote import Remote, RolloutError, fail, on_hosts, q, say, tail
from deploy.fleet.services import (
    Cluster,
    FeedShard,
    database_names,
    has_services,
    pg_database,
    prepare_db,
    provision,
    redis_password,
    rejoin_node,
    runs_bouncer,
    supervisor_paths,
    unit_file,
    write_file,
)
from deploy.localstack.templates import geo_allow, render, upstream_servers


def render_topology(inventory: Inventory, host: Host, clusters: Sequence[DbCluster] = ()) -> str:
    """Return the topology file (ops/topology.py) of a db or redis host, from the inventory.

    The db hosts, in inventory order, are the PostgreSQL nodes (the first is
    the primary until a failover records another); the first redis host is
    the Redis primary. Services run under the host's service manager: systemd,
    or the supervisord `fab setup` runs for them (deploy/fleet/services.py).
    """
    # A db host's own cluster (db_clusters); else the first cluster, or the first two db hosts.
    mine = next((c for c in clusters if host in c.hosts), clusters[0] if clusters else None)
    dbs = (
        list(mine.hosts)
        if mine and mine.hosts
        else [h for h in inventory.hosts.values() if "db" in h.roles][:2]
    )
    redis = next((h for h in inventory.hosts.values() if "redis" in h.roles), host)
    # A database the cluster holds (its first: `main` on the cluster that has it).
    database = pg_database(mine.databases[0]) if mine and mine.databases else "instagram_main"
    if host.service_manager == "supervisord":
        conf, ctl = supervisor_paths(host)
        manager = [
            'service_manager = "supervisorctl"',
            f"supervisor_conf = {json.dumps(conf)}",
            f"supervisorctl = {json.dumps(ctl)}",
        ]
        reconfigure = [ctl, "-c", conf, "signal", "HUP", "instagram-pgbouncer"]
    else:
        manager = ['service_manager = "systemctl"']
        reconfigure = ["systemctl", "reload", "instagram-pgbouncer"]
    lines = [
        "# Written by `fab setup` from the inventory; read by ops/topology.py.",
        "[host]",
        *manager,
        f"service_user = {json.dumps(host.service_user)}",
        "",
        "[postgres]",
        f"bin = {json.dumps(host.pg_bin)}",
        # The socket folder of the PostgreSQL `fab setup` runs (services.folders).
        f"socket_dir = {json.dumps(host.path('shared', 'services', 'run'))}",
        'primary_file = "postgres-primary"',
        'replication_user = "replicator"',
        'standby_name = "standby1"',
        f"database = {json.dumps(database)}",
        'db_user = "instagram"',
        f"pgbouncer_reconfigure = {json.dumps(reconfigure)}",
    ]
    for db in dbs:
        lines += [
            "",
            "[[postgres.nodes]]",
            f"name = {json.dumps(db.pg_service)}",
            f"host = {json.dumps(db.address)}",
            f"port = {db.services['pg_port']}",
            f"data = {json.dumps(db.pg_data)}",
        ]
    lines += ["", "[redis]", 'service = "instagram-redis"', f"port = {redis.services['redis_port']}", ""]
    return "\n".join(lines)


def inventory_settings(
    inventory: Inventory, host: Host, given: set[str], settings: dict[str, str] | None = None
) -> dict[str, str]:
    """Return the settings the inventory decides for `host`, those the uploaded file (`settings`) lacks.

    gunicorn trusts X-Forwarded-* from the lb hosts only; ops commands on db
    and redis hosts read the topology file `fab setup` writes next to the
    settings; the feed shards' URLs carry REDIS_URL's password and database.
    """
    settings = settings or {}

    def addresses(*roles: str) -> str:
        return ",".join(h.address for h in inventory.hosts.values() if set(roles) & set(h.roles))

    def servers(role: str, port: str) -> str:
        hosts = [h for h in inventory.hosts.values() if role in h.roles]
        return ",".join(f"{h.address}:{h.services[port]}" for h in hosts)

    derived = {
        "FORWARDED_ALLOW_IPS": addresses("lb") or "127.0.0.1",
        # Every app and worker talks to all of them: memcached keys are spread
        # over the cache hosts (pylibmc's consistent hashing), jobs over the
        # gearmand hosts (a client tries the next one when one is down).
        "MEMCACHED_SERVERS": servers("cache", "memcached_port"),
        "GEARMAN_SERVERS": servers("gearman", "gearman_port"),
        # The app finds each Redis primary through them and follows a promotion
        # without a restart (instagram/redis_client.py).
        "REDIS_SENTINELS": ",".join(sentinel_addresses(inventory)),
        **feed_settings(inventory, settings),
    }
    if sentinel_addresses(inventory) and "REDIS_SENTINEL_PASSWORD" not in settings:
        # The Sentinels then take the Redis password (services.sentinel_password): the apps give it.
        derived["REDIS_SENTINEL_PASSWORD"] = redis_password(settings)
    if {"db", "redis"} & set(host.roles):
        derived["IG_TOPOLOGY"] = host.path("shared", "topology.toml")
    if runs_bouncer(host) and host.service_manager != "none":
        # The host's own pgbouncer, which repmgr's event hook repoints at a promoted standby.
        derived["DB_HOST"] = derived["DB_REPLICA_HOST"] = "127.0.0.1"
    return {key: value for key, value in derived.items() if value and key not in given}


def feed_shards(inventory: Inventory) -> tuple[FeedShard, ...]:
    """The feed shards of the inventory: shard i's primary on redis host i mod n, its replica on the next."""
    hosts = [h for h in inventory.hosts.values() if "redis" in h.roles]

    def at(i: int, host: Host) -> str:
        return f"{host.address}:{host.services['redis_feed_port'] + i}"

    return tuple(
        FeedShard(
            index=i,
            primary=at(i, hosts[i % len(hosts)]),
            replica=at(i, hosts[(i + 1) % len(hosts)]) if len(hosts) > 1 else "",
        )
        for i in range(inventory.redis_feed_shards)
    )


def feed_settings(inventory: Inventory, settings: dict[str, str]) -> dict[str, str]:
    """REDIS_FEED_URLS and REDIS_FEED_REPLICA_URLS of the inventory's feed shards ({} without any).

    Each URL is REDIS_URL's (its password and database) at the shard's
    address. With Sentinels the app asks them for `feed-<i>` and keeps only
    the password and database; the addresses say where each shard started.
    """
    shards = feed_shards(inventory)
    if not shards:
        return {}
    base = urlsplit(settings.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    credentials = base.netloc.rpartition("@")[0]

    def url(address: str) -> str:
        netloc = f"{credentials}@{address}" if credentials else address
        return base._replace(netloc=netloc).geturl()

    return {
        "REDIS_FEED_URLS": ",".join(url(s.primary) for s in shards),
        "REDIS_FEED_REPLICA_URLS": ",".join(url(s.replica or s.primary) for s in shards),
    }


def env_values(text: str) -> dict[str, str]:
    """The KEY=VALUE lines of a settings file (comments and blank lines skipped, quotes dropped)."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.lstrip().startswith("#"):
            values[key.strip()] = value.strip().strip("'\"")
    return values


def render_lb_nginx(inventory: Inventory, host: Host, settings: dict[str, str]) -> str:
    """Return nginx.conf for lb `host`: the API in front of every app host, and the CDN.

    The same template the local stack runs (deploy/nginx/nginx.conf). The
    upstream lists each app host of the inventory at its gunicorn bind (its
    address where the bind is a wildcard or loopback); the CDN takes purges
    from the app and worker hosts only (the ones that delete photos) and
    fetches from the S3 origin of the settings.
    """

    def reachable(app: Host) -> str:
        address, _, port = app.bind.rpartition(":")
        if address in {"", "0.0.0.0", "[::]", "127.0.0.1", "localhost"}:  # noqa: S104
            address = app.address
        return f"{address}:{port}"

    apps = [reachable(h) for h in inventory.hosts.values() if "app" in h.roles]
    if not apps:
        raise Exit("the inventory has lb hosts but no app host to send them to", code=2)
    purgers = sorted({h.address for h in inventory.hosts.values() if {"app", "worker"} & set(h.roles)})
    origin = urlsplit(settings.get("S3_ENDPOINT_URL", ""))
    if not origin.netloc:
        raise Exit("the settings file names no S3_ENDPOINT_URL for the CDN on the lb hosts", code=2)
    folder = host.path("shared", "nginx")
    values = {
        "nginx_user": host.nginx_user,
        "var": folder,
        "log": f"{folder}/log",
        "run": f"{folder}/run",
        "listen_host": host.listen,
        "nginx_port": host.services["http_port"],
        "nginx_tls_port": host.services["https_port"],
        "cdn_port": host.services["cdn_port"],
        "cdn_tls_port": host.services["cdn_https_port"],
        "tls_certificate": host.tls_certificate,
        "tls_certificate_key": host.tls_certificate_key,
        "app_servers": upstream_servers(apps),
        "status_allow": host.address,
        "cdn_purge_allow": geo_allow([f"{address}/32" for address in purgers]),
        "s3_addr": origin.netloc,
        "bucket": settings.get("S3_BUCKET", "instagram-media"),
    }
    return render((ROOT / "deploy" / "nginx" / "nginx.conf").read_text(), values)


LB_UNIT = "instagram-nginx"


def lb_unit(host: Host) -> str:
    """Return the systemd unit of an lb host's nginx (hosts whose service manager is systemd).

    nginx daemonizes (Type=forking, its pid file); a reload re-reads the
    configuration without dropping a connection, as `fab setup` does after a
    change; a stop lets the requests under way finish (SIGQUIT).
    """
    folder = host.path("shared", "nginx")
    conf = f"{folder}/nginx.conf"
    return unit_file(
        rendered_by="deploy/fleet/roles.py",
        description="nginx in front of the app hosts, and the CDN origin",
        service=[
            "Type=forking",
            f"PIDFile={folder}/run/nginx.pid",
            f"ExecStartPre={host.nginx} -t -q -c {conf}",
            f"ExecStart={host.nginx} -c {conf}",
            f"ExecReload={host.nginx} -c {conf} -s reload",
        ],
        kill_signal="QUIT",
        restart=True,
    )


def configure_lb(remote: Remote, config: str) -> None:
    """Install `config` as the host's nginx.conf (checked by `nginx -t` first); start or reload nginx.

    On a systemd host nginx runs as the unit instagram-nginx (Debian's own
    nginx.service, on the same ports, is disabled); elsewhere fab starts it.
    Unchanged, nothing happens: a second `fab setup` changes nothing.
    """
    host = remote.host
    folder = host.path("shared", "nginx")
    conf, pid = f"{folder}/nginx.conf", f"{folder}/run/nginx.pid"
    remote.run(f"mkdir -p {q(folder)}/log {q(folder)}/run {q(folder)}/nginx", step="lb")
    remote.put(io.BytesIO(config.encode()), f"{conf}.next", step="lb")
    systemd = host.service_manager == "systemd"
    unit_changed = False
    if systemd:
        if remote.test("systemctl is-enabled -q nginx.service", step="lb: systemd"):
            remote.run("systemctl disable --now nginx.service", step="lb: systemd")
            say(host, f"nginx.service (the package's own) disabled: {LB_UNIT} takes its ports")
        unit_changed = write_file(remote, f"/etc/systemd/system/{LB_UNIT}.service", lb_unit(host))
        if unit_changed:
            remote.run("systemctl daemon-reload", step="lb: systemd")
        running = remote.test(f"systemctl is-active -q {LB_UNIT}", step="lb: systemd")
    else:
        running = remote.test(f"kill -0 $(cat {q(pid)})", step="lb")
    if running and not unit_changed and remote.test(f"cmp -s {q(conf)}.next {q(conf)}", step="lb"):
        remote.run(f"rm -f {q(conf)}.next", step="lb")
        say(host, "nginx: configuration unchanged")
        return
    remote.run(f"{q(host.nginx)} -t -q -c {q(conf)}.next", step="lb: nginx -t")
    remote.run(f"mv {q(conf)}.next {q(conf)}", step="lb")
    if systemd:
        if running:
            remote.run(f"systemctl reload-or-restart {LB_UNIT}", step="lb: reload nginx")
            say(host, "nginx reloaded")
        else:
            remote.run(f"systemctl enable --now {LB_UNIT}", step="lb: start nginx")
            say(host, f"{LB_UNIT} started")
    elif running:
        remote.run(f"{q(host.nginx)} -c {q(conf)} -s reload", step="lb: reload nginx")
        say(host, "nginx reloaded")
    else:
        remote.run(f"{q(host.nginx)} -c {q(conf)}", step="lb: start nginx")
        say(host, "nginx started")


@dataclass(frozen=True)
class DbCluster:
    """What one cluster's db hosts answered before provisioning: which is the primary, which the standby."""

    primary: Host | None = None
    standby: Host | None = None  # None: the `_replica` names go to the primary
    hook_keys: tuple[str, ...] = ()  # every db host's hook key (of every cluster)
    name: str = ""
    # Its db hosts; empty: the inventory's first two (no [db_clusters]).
    hosts: tuple[Host, ...] = ()
    # The databases it holds (pgbouncer names); empty: every database of the settings.
    databases: tuple[str, ...] = ()


def pg_address(host: Host) -> str:
    return f"{host.address}:{host.services['pg_port']}"


def default_db_hosts(inventory: Inventory) -> list[Host]:
    """Without [db_clusters]: one cluster, the first two db hosts fab manages."""
    return [h for h in inventory.hosts.values() if "db" in h.roles and h.service_manager != "none"][:2]


def cluster_specs(inventory: Inventory, settings: dict[str, str]) -> list[DbClusterSpec]:
    """The inventory's PostgreSQL clusters, each with the databases it holds, checked against the settings.

    Every database of the settings (DB_MAIN, then DB_SHARDS) must be held by
    exactly one cluster, and a cluster may hold no other. Without
    [db_clusters], one cluster (the first two db hosts) holds them all.
    """
    names = database_names(settings)
    if not inventory.db_clusters:
        hosts = default_db_hosts(inventory)
        return (
            [DbClusterSpec(name="db", hosts=tuple(h.name for h in hosts), databases=tuple(names))]
            if hosts
            else []
        )
    held = {database: spec.name for spec in inventory.db_clusters for database in spec.databases}
    missing = [name for name in names if name not in held]
    if missing:
        raise Exit(
            f"{inventory.path}: no db_clusters entry holds {', '.join(missing)}"
            f" (the settings' DB_MAIN and DB_SHARDS: {', '.join(names)})",
            code=2,
        )
    unknown = [f"{database} ({cluster})" for database, cluster in held.items() if database not in names]
    if unknown:
        raise Exit(
            f"{inventory.path}: db_clusters hold databases the settings do not name: {', '.join(unknown)}"
            f" (DB_MAIN and DB_SHARDS: {', '.join(names)})",
            code=2,
        )
    return list(inventory.db_clusters)


def db_clusters(
    inventory: Inventory, specs: list[DbClusterSpec], rejoining: Host | None = None
) -> list[DbCluster]:
    """Ask every cluster's db hosts which one is its primary now.

    A fresh cluster (no PostgreSQL answers) takes its first host as the
    primary; after a failover, the node repmgrd promoted stays it. Two
    primaries in a cluster (the old one started again, or cut off and back)
    stop the setup: an operator decides, by naming the one to rejoin
    (`rejoining`) as the new primary's standby.
    """
    members = {spec.name: [inventory.hosts[name] for name in spec.hosts] for spec in specs}
    everyone = [h for spec in specs for h in members[spec.name]]
    if not everyone:
        return []
    try:
        states = on_hosts(everyone, lambda r: prepare_db(r, r.host, lambda m: say(r.host, m)))
    except RolloutError as exc:
        raise fail("setup failed on the db hosts", exc) from None
    keys = tuple(states[h][1] for h in everyone)
    clusters = []
    for spec in specs:
        dbs = members[spec.name]
        which = f" of cluster {spec.name}" if len(specs) > 1 else ""
        primaries = [h for h in dbs if states[h][0] == "primary" and h is not rejoining]
        if len(primaries) > 1:
            names = ", ".join(h.name for h in primaries)
            raise Exit(
                f"several db hosts{which} run as primaries ({names}): `fab -H <the old one> rejoin`", code=1
            )
        answered = any(states[h][0] for h in dbs)
        if rejoining in dbs and not primaries and states[rejoining][0] == "primary":
            raise Exit(f"{rejoining.name} is the only PostgreSQL primary: there is nothing to rejoin", code=2)
        if answered and not primaries:
            raise Exit(
                f"no db host{which} answers as the PostgreSQL primary: nothing to set up the others from",
                code=1,
            )
        primary = primaries[0] if primaries else dbs[0]
        others = [h for h in dbs if h is not primary]
        standby = others[0] if others and (not answered or states[others[0]][0] == "standby") else None
        clusters.append(
            DbCluster(
                primary=primary,
                standby=standby,
                hook_keys=keys,
                name=spec.name,
                hosts=tuple(dbs),
                databases=spec.databases,
            )
        )
    return clusters


def known_host_lines(hosts: list[Host]) -> str:
    """The operator's host keys of `hosts` (fab refuses unknown ones): the hook's known_hosts."""
    import os

    import paramiko

    keys = paramiko.HostKeys()
    for path in {"~/.ssh/known_hosts", *(h.known_hosts for h in hosts if h.known_hosts)}:
        if os.path.exists(os.path.expanduser(path)):
            keys.load(os.path.expanduser(path))
    lines = []
    for host in hosts:
        name = host.address if host.port == 22 else f"[{host.address}]:{host.port}"
        for kind, key in (keys.lookup(name) or {}).items():
            lines.append(f"{name} {kind} {key.get_base64()}\n")
    return "".join(lines)


def cluster_of(
    inventory: Inventory, host: Host, db: DbCluster | Sequence[DbCluster] = DbCluster()
) -> Cluster:
    """Return where `host` stands: its PostgreSQL cluster, every database's route, the Redis primary.

    `db` is what the db hosts answered (db_clusters): one cluster, or each of
    the inventory's [db_clusters]. A db host's repmgr nodes are its own
    cluster's; every pgbouncer sends each database to its cluster's primary.
    """

    def first(role: str, port: str) -> str | None:
        hosts = [h for h in inventory.hosts.values() if role in h.roles]
        if role not in host.roles or not hosts or hosts[0] is host:
            return None
        return f"{hosts[0].address}:{hosts[0].services[port]}"

    clusters = [db] if isinstance(db, DbCluster) else list(db) or [DbCluster()]

    def members(cluster: DbCluster) -> list[Host]:
        return list(cluster.hosts) or default_db_hosts(inventory)

    mine = next((c for c in clusters if host in members(c)), clusters[0])
    dbs = members(mine)
    bouncers = [h for h in inventory.hosts.values() if runs_bouncer(h) and h.service_manager != "none"]
    primary = mine.primary

    def standby_of(cluster: DbCluster) -> Host | None:
        return cluster.standby or cluster.primary

    return Cluster(
        db_primary=pg_address(primary) if primary and "db" in host.roles and host is not primary else None,
        db_addresses=tuple(h.address for h in dbs),
        redis_primary=first("redis", "redis_port"),
        redis_monitor=next(
            (
                f"{h.address}:{h.services['redis_port']}"
                for h in inventory.hosts.values()
                if "redis" in h.roles
            ),
            None,
        ),
        redis_sentinels=sentinel_addresses(inventory),
        redis_feeds=feed_shards(inventory),
        db_nodes=tuple((h.name, h.address, h.services["pg_port"]) for h in dbs),
        pg_primary=pg_address(primary) if primary else "",
        pg_standby=pg_address(mine.standby) if mine.standby else "",
        databases=mine.databases if "db" in host.roles else (),
        pg_routes=tuple(
            (name, pg_address(c.primary), pg_address(standby_of(c)))  # type: ignore[arg-type]
            for c in clusters
            if c.primary and c.databases
            for name in c.databases
        ),
        db_clusters=tuple(
            (tuple(pg_address(h) for h in members(c)), c.databases) for c in clusters if c.databases
        ),
        bouncers=tuple((h.user, h.address, h.port) for h in bouncers),
        hook_keys=tuple(dict.fromkeys(key for c in clusters for key in c.hook_keys)),
        hook_known_hosts=known_host_lines(bouncers) if "db" in host.roles else "",
    )


def sentinel_addresses(inventory: Inventory) -> tuple[str, ...]:
    """Every Redis Sentinel's address:port (the inventory's sentinel hosts, inventory.default_sentinels)."""
    return tuple(
        f"{h.address}:{h.services['sentinel_port']}"
        for h in inventory.hosts.values()
        if "sentinel" in h.roles
    )


def supervisor_wheel() -> Path:
    """Return supervisor's wheel (the pin of requirements.txt), downloaded once into var/.

    Hosts whose service manager is supervisord run their servers under it,
    unpacked from this wheel by `fab setup` (before any release is there).
    """
    requirements = (ROOT / "requirements.txt").read_text().splitlines()
    pin = next((line.split("#")[0].strip() for line in requirements if line.startswith("supervisor==")), "")
    if not pin:
        raise Exit("requirements.txt pins no supervisor version", code=2)
    folder = ROOT / "var" / "service-wheels"
    pattern = f"supervisor-{pin.split('==', 1)[1]}-*.whl"
    if not sorted(folder.glob(pattern)):
        folder.mkdir(parents=True, exist_ok=True)
        download = ["download", "-q", "--no-deps", "--only-binary", ":all:", "-d", str(folder), pin]
        pip = subprocess.run(
            [sys.executable, "-m", "pip", "--disable-pip-version-check", *download],
            capture_output=True,
            text=True,
            check=False,
        )
        if pip.returncode != 0:
            raise Exit(f"pip download {pin} failed:\n{tail(pip.stderr)}", code=1)
    found = sorted(folder.glob(pattern))
    if not found:
        raise Exit(f"pip download {pin} left no wheel in {folder}", code=1)
    return found[0]


def setup_hosts(inventory: Inventory, hosts: list[Host], text: str) -> None:
    """Give each host what its roles need from the settings file `text`, in parallel.

    The file, then what the inventory decides and the file does not say
    (inventory_settings), becomes <root>/shared/env (mode 600) on app, worker,
    db and redis hosts; db and redis hosts get shared/topology.toml; lb hosts
    get nginx in front of every app host of the inventory (render_lb_nginx).
    """
    given = {line.split("=", 1)[0].strip() for line in text.splitlines() if "=" in line}
    settings = env_values(text)
    if inventory.redis_feed_shards and settings.get("REDIS_FEED_URLS"):
        listed = len(settings["REDIS_FEED_URLS"].split(","))
        if listed != inventory.redis_feed_shards:
            # The apps would ask the Sentinels for shards nobody runs, or miss some.
            raise Exit(
                f"the settings file lists {listed} REDIS_FEED_URLS, the inventory"
                f" {inventory.redis_feed_shards} feed shards ([redis] feed_shards):"
                " leave them out of the file, fab writes them",
                code=2,
            )
    lb_configs = {h: render_lb_nginx(inventory, h, settings) for h in hosts if "lb" in h.roles}
    needs_wheel = any(h.service_manager == "supervisord" and has_services(h) for h in hosts)
    wheel = supervisor_wheel() if needs_wheel else None
    clusters = db_clusters(inventory, cluster_specs(inventory, env_values(text)))

    def upload(remote: Remote) -> None:
        host = remote.host
        if host in lb_configs:
            configure_lb(remote, lb_configs[host])
        provision(
            remote,
            host,
            settings,
            wheel=wheel,
            say=lambda message: say(host, message),
            cluster=cluster_of(inventory, host, clusters),
        )
        if not set(RELEASE_ROLES) & set(host.roles):
            return
        shared = host.path("shared")
        extra = inventory_settings(inventory, host, given, settings)
        with tempfile.TemporaryDirectory() as folder:
            rendered = Path(folder) / "env"
            rendered.write_text(text.rstrip("\n") + "\n" + "".join(f"{k}={v}\n" for k, v in extra.items()))
            remote.run(f"mkdir -p {q(shared)} && umask 077 && touch {q(shared)}/env.next", step="setup")
            remote.put(rendered, f"{shared}/env.next", step="setup")
            if {"db", "redis"} & set(host.roles):
                topology = Path(folder) / "topology.toml"
                topology.write_text(render_topology(inventory, host, clusters))
                remote.put(topology, f"{shared}/topology.toml", step="setup")
        remote.run(f"chmod 600 {q(shared)}/env.next && mv {q(shared)}/env.next {q(shared)}/env", step="setup")
        say(host, f"settings written to {shared}/env")

    try:
        on_hosts(hosts, upload)
    except RolloutError as exc:
        raise fail("setup failed", exc) from None


def rejoin(inventory: Inventory, host: Host) -> None:
    """Make db `host` its cluster's new primary's standby; point that cluster's `_replica` names at it."""
    try:
        text = on_hosts(
            [host], lambda r: r.run(f"cat {q(host.path('shared', 'env'))}", step="rejoin: settings")
        )
    except RolloutError as exc:
        raise fail("rejoin failed", exc) from None
    settings = env_values(text[host])
    clusters = db_clusters(inventory, cluster_specs(inventory, settings), rejoining=host)
    mine = next((c for c in clusters if host in c.hosts), None)
    if mine is None:
        raise Exit(f"{host.name} is in no PostgreSQL cluster of the inventory", code=2)
    if mine.primary is None or mine.primary is host:
        raise Exit(f"{host.name} is the PostgreSQL primary: there is nothing to rejoin", code=2)
    clusters = [replace(c, standby=host) if c is mine else c for c in clusters]
    cluster = cluster_of(inventory, host, clusters)

    def one(remote: Remote) -> None:
        rejoin_node(remote, host, settings, cluster, lambda m: say(host, m))

    try:
        on_hosts([host], one)
    except RolloutError as exc:
        raise fail("rejoin failed", exc) from None
    bouncers = [h for h in inventory.hosts.values() if runs_bouncer(h) and h.service_manager != "none"]
    # Only this cluster's databases move (pgbouncer-repoint knows which they are).
    command = f"repoint {cluster.pg_primary} {cluster.pg_standby}"

    def repoint(remote: Remote) -> None:
        script = f"{remote.host.path('shared', 'services', 'etc')}/pgbouncer-repoint"
        say(remote.host, remote.run(f"{q(script)} {command}", step="repoint pgbouncer").strip())

    try:
        on_hosts(bouncers, repoint)
    except RolloutError as exc:
        raise fail("repointing pgbouncer failed", exc) from None
