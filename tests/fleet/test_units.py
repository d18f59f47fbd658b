"""What `fab setup` renders for a real host's servers: systemd units and configuration files.

The fleet test runs the same servers under supervisord (its network
namespaces have no systemd); here the units of the example inventory's hosts
are checked by systemd itself (`systemd-analyze verify`).
"""

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from deploy.fleet.inventory import Inventory, InventoryError
from deploy.fleet.roles import LB_UNIT, DbCluster, cluster_of, inventory_settings, lb_unit, render_topology
from deploy.fleet.services import (
    disable_package_units,
    host_files,
    host_services,
    secret_owner,
    supervisord_conf,
    systemd_unit,
)
from ops import topology
from tests.fleet.fleet import ROOT

pytestmark = pytest.mark.fast

SETTINGS = {
    "DB_PORT": "6432",
    "DB_USER": "instagram",
    "DB_PASSWORD": "a-password-of-the-operator",
    "S3_ENDPOINT_URL": "http://10.0.7.10:9000",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "a-secret-of-the-operator",
    "S3_REGION": "us-east-1",
}


def example() -> Inventory:
    return Inventory.load(ROOT / "deploy" / "inventory.example.toml")


def test_every_server_of_the_example_inventory_gets_a_systemd_unit_systemd_accepts(tmp_path: Path) -> None:
    inventory = example()
    units: dict[str, str] = {}
    # What the db hosts of a fresh fleet answer: db1 is the primary (roles.db_cluster).
    answered = DbCluster(primary=inventory.hosts["db1"])
    for host in inventory.hosts.values():
        assert host.service_manager == "systemd"
        for service in host_services(host, SETTINGS, cluster_of(inventory, host, answered)):
            units[f"{host.name}:{service.unit}"] = systemd_unit(host, service)
        if "lb" in host.roles:
            units[f"{host.name}:{LB_UNIT}"] = lb_unit(host)
    # Three Sentinels: on the redis host, then on the next hosts with servers
    # (default_sentinels); a pgbouncer beside every app, worker and db host.
    assert sorted(units) == [
        "app1:instagram-pgbouncer",
        "app2:instagram-pgbouncer",
        "cache1:instagram-memcached",
        "cache1:instagram-sentinel",
        "db1:instagram-pgbouncer",
        "db1:instagram-postgresql",
        "db1:instagram-repmgrd",
        "db1:instagram-sentinel",
        "gearman1:instagram-gearmand",
        "lb1:instagram-nginx",
        "redis1:instagram-redis",
        "redis1:instagram-sentinel",
        "worker1:instagram-pgbouncer",
    ]
    postgres = units["db1:instagram-postgresql"]
    assert "User=postgres\n" in postgres
    assert (
        "ExecStart=/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main"
        " -c config_file=/srv/instagram/shared/services/etc/postgresql.conf"
        " -c listen_addresses=127.0.0.1,10.0.2.11\n"
    ) in postgres
    assert "KillSignal=SIGINT\n" in postgres
    # A crashed primary stays down (repmgrd promotes the standby; `fab rejoin` brings it back).
    assert "Restart=no\n" in postgres
    assert (
        "ExecStart=/usr/lib/postgresql/15/bin/repmgrd -f /srv/instagram/shared/services/etc/repmgr.conf"
        in (units["db1:instagram-repmgrd"])
    )
    # Its S3 keys (WAL archiving) come from a file of mode 600, never from the unit.
    assert "EnvironmentFile=/srv/instagram/shared/services/etc/postgresql.env\n" in postgres
    assert not [unit for unit in units.values() if "a-secret-of-the-operator" in unit]
    assert "-l 10.0.2.31,127.0.0.1 -p 11211" in units["cache1:instagram-memcached"]
    assert (
        "ExecStart=/bin/sh /srv/instagram/shared/services/etc/redis-start.sh\n"
        in units["redis1:instagram-redis"]
    )
    # Redis is started again by `fab setup` or the operator, never on its own (redis_start_script).
    assert "Restart=no\n" in units["redis1:instagram-redis"]
    assert "Restart=always\n" in units["db1:instagram-sentinel"]
    assert (
        "ExecStart=/usr/bin/redis-sentinel /var/lib/instagram/sentinel/sentinel.conf"
        " --bind 10.0.2.11 127.0.0.1\n"
    ) in units["db1:instagram-sentinel"]
    assert "--libsqlite3-db=/var/lib/instagram/gearmand/queue.sqlite3" in units["gearman1:instagram-gearmand"]
    # nginx reloads its configuration in place; a stop lets the requests under way finish.
    nginx = units["lb1:instagram-nginx"]
    assert "ExecReload=/usr/sbin/nginx -c /srv/instagram/shared/nginx/nginx.conf -s reload\n" in nginx
    assert "KillSignal=SIGQUIT\n" in nginx
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: the units' text is checked, not systemd's verdict")
    for name, text in units.items():
        path = tmp_path / f"{name.split(':')[1]}.service"
        path.write_text(text)
        verdict = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True, check=False)
        assert verdict.returncode == 0, f"{name}: {verdict.stdout}{verdict.stderr}"


def test_the_db_hosts_files_are_the_repositorys_templates_with_its_values() -> None:
    db1 = example().hosts["db1"]
    files = host_files(db1, SETTINGS)
    etc = "/srv/instagram/shared/services/etc"
    assert sorted(files) == [
        f"{etc}/pg_hba.conf",
        f"{etc}/pgbouncer-repoint",
        f"{etc}/pgbouncer-users.txt",
        f"{etc}/pgbouncer.ini",
        f"{etc}/pgpass",
        f"{etc}/postgresql.conf",
        f"{etc}/repmgr-event",
        f"{etc}/repmgr-hook-known_hosts",
        f"{etc}/repmgr.conf",
    ]
    postgresql = files[f"{etc}/postgresql.conf"]
    assert "port = 5432\n" in postgresql
    assert "unix_socket_directories = '/srv/instagram/shared/services/run'" in postgresql
    assert "--endpoint-url http://10.0.7.10:9000 " in postgresql
    pgbouncer = files[f"{etc}/pgbouncer.ini"]
    assert "listen_addr = 10.0.2.11,127.0.0.1\n" in pgbouncer
    assert "listen_port = 6432\n" in pgbouncer
    # A lone db host: its own address for both (the other hosts' pgbouncers say the same).
    assert "main = host=10.0.2.11 port=5432 dbname=instagram_main\n" in pgbouncer
    assert "shard1_replica = host=10.0.2.11 port=5432 dbname=instagram_shard1\n" in pgbouncer
    repmgr = files[f"{etc}/repmgr.conf"]
    assert "node_id = 1\nnode_name = 'db1'\n" in repmgr
    assert "conninfo = 'host=10.0.2.11 port=5432 user=postgres dbname=repmgr connect_timeout=2'" in repmgr
    assert f"event_notification_command = '{etc}/repmgr-event %n %e %s'" in repmgr
    assert files[f"{etc}/pgbouncer-users.txt"].strip() == '"instagram" "a-password-of-the-operator"'
    assert "{{" not in "".join(files.values())


def test_a_supervisord_host_names_its_supervisorctl_in_the_topology(tmp_path: Path) -> None:
    text = (ROOT / "deploy" / "inventory.example.toml").read_text()
    text = text.replace("workers = 2 ", 'workers = 2\nservice_manager = "supervisord"\n', 1)
    (tmp_path / "inventory.toml").write_text(text)
    inventory = Inventory.load(tmp_path / "inventory.toml")
    db1 = inventory.hosts["db1"]
    assert db1.service_manager == "supervisord"
    t = topology.parse(tomllib.loads(render_topology(inventory, db1)), path=Path("/srv/x/topology.toml"))
    assert t.service_manager == "supervisorctl"
    assert t.supervisor_conf == Path("/srv/instagram/shared/services/supervisord.conf")
    assert t.supervisorctl == "/srv/instagram/shared/services/bin/supervisorctl"
    assert t.socket_dir == Path("/srv/instagram/shared/services/run")
    conf = supervisord_conf(db1, host_services(db1, SETTINGS))
    assert "[program:instagram-postgresql]\n" in conf
    assert 'environment = AWS_ACCESS_KEY_ID="AKIAEXAMPLE",' in conf
    (tmp_path / "inventory.toml").write_text(text.replace('"supervisord"', '"runit"'))
    with pytest.raises(
        InventoryError, match="service_manager is 'runit', not one of systemd, supervisord, none"
    ):
        Inventory.load(tmp_path / "inventory.toml")


def test_a_second_db_and_redis_host_is_the_standby_and_the_replica_of_the_first(tmp_path: Path) -> None:
    from deploy.fleet.roles import DbCluster, cluster_of

    text = (ROOT / "deploy" / "inventory.example.toml").read_text()
    text = text.replace('db = ["db1"]', 'db = ["db1", "db2"]').replace(
        'redis = ["redis1"]', 'redis = ["redis1", "db2"]'
    )
    (tmp_path / "inventory.toml").write_text(text + '\n[hosts.db2]\nhost = "10.0.2.12"\n')
    inventory = Inventory.load(tmp_path / "inventory.toml")
    db1, db2 = inventory.hosts["db1"], inventory.hosts["db2"]
    # What the db hosts answered (deploy/fleet/roles.db_cluster): db1 the primary, db2 its standby.
    answered = DbCluster(
        primary=db1, standby=db2, hook_keys=("ssh-ed25519 AAAAC3 instagram-repmgr-hook@db1",)
    )
    assert cluster_of(inventory, db1, answered).db_primary is None
    standby = cluster_of(inventory, db2, answered)
    assert (standby.db_primary, standby.redis_primary) == ("10.0.2.11:5432", "10.0.2.21:6379")
    etc = "/srv/instagram/shared/services/etc"
    files = host_files(db2, SETTINGS, standby)
    pgbouncer = files[f"{etc}/pgbouncer.ini"]
    assert "main = host=10.0.2.11 port=5432 dbname=instagram_main\n" in pgbouncer
    assert "main_replica = host=10.0.2.12 port=5432 dbname=instagram_main\n" in pgbouncer
    assert "node_id = 2\nnode_name = 'db2'\n" in files[f"{etc}/repmgr.conf"]
    # The app hosts' pgbouncer says the same, on loopback only; the hook reaches every pgbouncer host.
    app = host_files(
        inventory.hosts["app1"], SETTINGS, cluster_of(inventory, inventory.hosts["app1"], answered)
    )
    assert "main = host=10.0.2.11 port=5432 dbname=instagram_main\n" in app[f"{etc}/pgbouncer.ini"]
    assert "listen_addr = 127.0.0.1\n" in app[f"{etc}/pgbouncer.ini"]
    event = files[f"{etc}/repmgr-event"]
    assert "for target in deploy@10.0.1.11:22 deploy@10.0.1.12:22 deploy@10.0.1.21:22" in event
    assert " repoint 10.0.2.12:5432\n" in event
    for address in ("10.0.2.11", "10.0.2.12"):
        assert (
            f"host    replication  replicator  {address}/32   scram-sha-256\n" in files[f"{etc}/pg_hba.conf"]
        )
    # The template's, overridden on the command line by the start script (test below).
    assert "replicaof 127.0.0.1" in files[f"{etc}/redis.conf"]
    redis = next(s for s in host_services(db2, SETTINGS, standby) if s.name == "redis")
    assert redis.command == f"/bin/sh {etc}/redis-start.sh"
    assert "appendonly yes" in files[f"{etc}/redis.conf"]


def two_redis_hosts(tmp_path: Path) -> Inventory:
    text = (ROOT / "deploy" / "inventory.example.toml").read_text()
    text = text.replace('db = ["db1"]', 'db = ["db1", "db2"]').replace(
        'redis = ["redis1"]', 'redis = ["redis1", "db2"]'
    )
    (tmp_path / "inventory.toml").write_text(text + '\n[hosts.db2]\nhost = "10.0.2.12"\n')
    return Inventory.load(tmp_path / "inventory.toml")


def test_the_sentinels_watch_the_first_redis_host_and_the_apps_are_told_where_they_are(
    tmp_path: Path,
) -> None:
    inventory = two_redis_hosts(tmp_path)
    sentinels = [h.name for h in inventory.hosts.values() if "sentinel" in h.roles]
    # The redis hosts, then the first other host with servers: three, each on its own host.
    assert sentinels == ["db1", "redis1", "db2"]
    app1 = inventory.hosts["app1"]
    assert inventory_settings(inventory, app1, set())["REDIS_SENTINELS"] == (
        "10.0.2.11:26379,10.0.2.21:26379,10.0.2.12:26379"
    )
    # The settings file may name them itself.
    assert "REDIS_SENTINELS" not in inventory_settings(inventory, app1, {"REDIS_SENTINELS"})
    db1 = inventory.hosts["db1"]
    conf = host_files(db1, SETTINGS, cluster_of(inventory, db1))[
        "/srv/instagram/shared/services/etc/sentinel.conf"
    ]
    assert "sentinel monitor main 10.0.2.21 6379 2\n" in conf
    assert "port 26379\n" in conf
    assert "dir /var/lib/instagram/sentinel\n" in conf
    # An inventory that names its sentinel hosts gets those.
    text = (tmp_path / "inventory.toml").read_text().replace("[roles]\n", '[roles]\nsentinel = ["app1"]\n')
    (tmp_path / "inventory.toml").write_text(text)
    named = Inventory.load(tmp_path / "inventory.toml")
    assert [h.name for h in named.hosts.values() if "sentinel" in h.roles] == ["app1"]


def test_a_password_in_redis_url_is_required_by_redis_and_given_by_replicas_and_sentinels(
    tmp_path: Path,
) -> None:
    inventory = two_redis_hosts(tmp_path)
    db2 = inventory.hosts["db2"]
    settings = {**SETTINGS, "REDIS_URL": "redis://:s3cret%2Fpw@10.0.2.21:6379/0"}
    files = host_files(db2, settings, cluster_of(inventory, db2))
    etc = "/srv/instagram/shared/services/etc"
    assert "requirepass s3cret/pw\nmasterauth s3cret/pw\n" in files[f"{etc}/redis.conf"]
    assert "sentinel auth-pass main s3cret/pw\n" in files[f"{etc}/sentinel.conf"]
    # Protected mode stays on; the password is in the file (mode 600, Redis's), not on the command line.
    assert "--protected-mode" not in files[f"{etc}/redis-start.sh"]
    assert "s3cret" not in files[f"{etc}/redis-start.sh"]
    assert secret_owner(db2, f"{etc}/redis.conf") == "redis"
    assert secret_owner(db2, f"{etc}/sentinel.conf") == "redis"
    assert secret_owner(db2, f"{etc}/redis-start.sh") is None
    # Without one, the private network is the boundary: protected mode off, no requirepass.
    plain = host_files(db2, SETTINGS, cluster_of(inventory, db2))
    assert "requirepass" not in plain[f"{etc}/redis.conf"]
    assert "--protected-mode no" in plain[f"{etc}/redis-start.sh"]


FAKE_REDIS_CLI = """#!/bin/sh
# Answers SENTINEL get-master-addr-by-name from $SENTINELS/<host>:<port>; no file: refused.
while [ $# -gt 0 ]; do
    case "$1" in
        -h) host=$2; shift ;;
        -p) port=$2; shift ;;
    esac
    shift
done
[ -f "$SENTINELS/$host:$port" ] || { echo "Could not connect to Redis at $host:$port" >&2; exit 1; }
cat "$SENTINELS/$host:$port"
"""


@pytest.mark.parametrize(
    ("host", "answers", "replicaof"),
    [
        # The fleet's first start: no Sentinel yet, the inventory decides.
        ("redis1", {}, "no one"),
        ("db2", {}, "10.0.2.21 6379"),
        # The Sentinels name the primary (the first one that answers with an address).
        ("db2", {"10.0.2.11:26379": "", "10.0.2.21:26379": "10.0.2.21\n6379\n"}, "10.0.2.21 6379"),
        # After a failover: the old primary starts as a replica of the promoted one, which stays primary.
        ("redis1", {"10.0.2.21:26379": "10.0.2.12\n6379\n"}, "10.0.2.12 6379"),
        ("db2", {"10.0.2.12:26379": "10.0.2.12\n6379\n"}, "no one"),
    ],
)
def test_redis_starts_as_a_replica_of_the_primary_the_sentinels_name(
    tmp_path: Path, host: str, answers: dict[str, str], replicaof: str
) -> None:
    inventory = two_redis_hosts(tmp_path)
    chosen = inventory.hosts[host]
    script = host_files(chosen, SETTINGS, cluster_of(inventory, chosen))[
        "/srv/instagram/shared/services/etc/redis-start.sh"
    ]
    bin_dir, sentinels = tmp_path / "bin", tmp_path / "sentinels"
    bin_dir.mkdir()
    sentinels.mkdir()
    (bin_dir / "redis-cli").write_text(FAKE_REDIS_CLI)
    (bin_dir / "redis-cli").chmod(0o755)
    for address, answer in answers.items():
        (sentinels / address).write_text(answer)
    # The server it would run, printed instead.
    (tmp_path / "start.sh").write_text(script.replace("exec /usr/bin/redis-server", "exec echo redis-server"))
    started = subprocess.run(
        ["/bin/sh", str(tmp_path / "start.sh")],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "SENTINELS": str(sentinels)},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert started.stdout.split("--replicaof ")[1].strip() == replicaof, started.stderr
    assert f"--bind {chosen.address} 127.0.0.1 --protected-mode no" in started.stdout


def test_feed_shards_spread_their_primaries_over_the_redis_hosts_each_watched_by_the_sentinels(
    tmp_path: Path,
) -> None:
    inventory = two_redis_hosts(tmp_path)
    text = (tmp_path / "inventory.toml").read_text()
    (tmp_path / "inventory.toml").write_text(
        text.replace("[roles]\n", "[redis]\nfeed_shards = 3\n\n[roles]\n")
    )
    inventory = Inventory.load(tmp_path / "inventory.toml")
    redis1, db2 = inventory.hosts["redis1"], inventory.hosts["db2"]
    settings = {**SETTINGS, "REDIS_URL": "redis://:pw@10.0.2.21:6379/0", "REDIS_SENTINEL_PASSWORD": "spw"}
    etc = "/srv/instagram/shared/services/etc"
    # Two redis hosts: each runs the main instance and its part of every shard, shard i on 6380 + i.
    for host in (redis1, db2):
        servers = [s for s in host_services(host, settings, cluster_of(inventory, host)) if "redis" in s.name]
        assert [(s.unit, s.port, s.autorestart) for s in servers] == [
            ("instagram-redis", 6379, False),
            ("instagram-redis-feed-0", 6380, False),
            ("instagram-redis-feed-1", 6381, False),
            ("instagram-redis-feed-2", 6382, False),
        ]
    files = host_files(db2, settings, cluster_of(inventory, db2))
    # Shard i's first primary on redis host i mod 2 (redis1, db2, redis1), its replica on the other.
    conf = files[f"{etc}/sentinel.conf"]
    for name, primary in (
        ("feed-0", "10.0.2.21 6380"),
        ("feed-1", "10.0.2.12 6381"),
        ("feed-2", "10.0.2.21 6382"),
    ):
        assert f"sentinel monitor {name} {primary} 2\n" in conf
        assert f"sentinel down-after-milliseconds {name} 5000\n" in conf
        assert f"sentinel auth-pass {name} pw\n" in conf
    assert "sentinel monitor main 10.0.2.21 6379 2\n" in conf
    assert "\nrequirepass spw\n" in conf
    # A primary keeps snapshots, a replica the AOF; each its own port, folder and password.
    assert "appendonly no" in files[f"{etc}/redis-feed-1.conf"]
    assert "appendonly yes" in files[f"{etc}/redis-feed-0.conf"]
    assert "port 6381\n" in files[f"{etc}/redis-feed-1.conf"]
    assert "dir /var/lib/instagram/redis-feed-1\n" in files[f"{etc}/redis-feed-1.conf"]
    assert "requirepass pw\nmasterauth pw\n" in files[f"{etc}/redis-feed-1.conf"]
    assert "get-master-addr-by-name feed-1" in files[f"{etc}/redis-feed-1-start.sh"]
    # The Sentinels' password: in its own file (Redis's, mode 600), read by the start scripts.
    assert files[f"{etc}/sentinel-password"] == "spw"
    assert secret_owner(db2, f"{etc}/sentinel-password") == "redis"
    assert secret_owner(db2, f"{etc}/redis-feed-1.conf") == "redis"
    assert all("spw" not in files[f"{etc}/redis-feed-{i}-start.sh"] for i in range(3))
    assert f"$(cat {etc}/sentinel-password)" in files[f"{etc}/redis-feed-1-start.sh"]
    # The apps: each shard's first primary and replica, with REDIS_URL's password and database.
    derived = inventory_settings(inventory, inventory.hosts["app1"], set(settings), settings)
    assert derived["REDIS_FEED_URLS"] == (
        "redis://:pw@10.0.2.21:6380/0,redis://:pw@10.0.2.12:6381/0,redis://:pw@10.0.2.21:6382/0"
    )
    assert derived["REDIS_FEED_REPLICA_URLS"] == (
        "redis://:pw@10.0.2.12:6380/0,redis://:pw@10.0.2.21:6381/0,redis://:pw@10.0.2.12:6382/0"
    )
    assert "REDIS_SENTINEL_PASSWORD" not in derived  # the file sets it
    # Unset, the Sentinels take the Redis password, and the apps are given it.
    plain = {**settings}
    del plain["REDIS_SENTINEL_PASSWORD"]
    assert (
        inventory_settings(inventory, inventory.hosts["app1"], set(plain), plain)["REDIS_SENTINEL_PASSWORD"]
        == "pw"
    )
    assert "\nrequirepass pw\n" in host_files(db2, plain, cluster_of(inventory, db2))[f"{etc}/sentinel.conf"]
    # No feed shards: the feeds stay on the main instance, nothing more runs or is written.
    (tmp_path / "none").mkdir()
    none = two_redis_hosts(tmp_path / "none")
    services = host_services(none.hosts["db2"], settings, cluster_of(none, none.hosts["db2"]))
    assert [s.name for s in services if "redis" in s.name] == ["redis"]
    assert "REDIS_FEED_URLS" not in inventory_settings(none, none.hosts["app1"], set(settings), settings)


@pytest.mark.parametrize("value", ["-1", '"2"', "true"])
def test_feed_shards_must_be_a_whole_number(tmp_path: Path, value: str) -> None:
    two_redis_hosts(tmp_path)
    text = (tmp_path / "inventory.toml").read_text()
    (tmp_path / "inventory.toml").write_text(
        text.replace("[roles]\n", f"[redis]\nfeed_shards = {value}\n\n[roles]\n")
    )
    with pytest.raises(InventoryError, match=r"redis\.feed_shards must be a whole number"):
        Inventory.load(tmp_path / "inventory.toml")


class PackageHost:
    """A Debian host as the packages leave it, for disable_package_units: which of their units are
    enabled, and whether PostgreSQL's own cluster starts at boot. Records what fab runs there."""

    def __init__(self, enabled: set[str], cluster_auto: bool) -> None:
        self.enabled, self.cluster_auto = enabled, cluster_auto
        self.ran: list[str] = []

    def test(self, command: str, *, step: str) -> bool:
        if command.startswith("systemctl is-enabled -q "):
            return command.split()[-1] in self.enabled
        assert command == "grep -qx auto /etc/postgresql/15/main/start.conf", command
        return self.cluster_auto

    def run(self, command: str, *, step: str, check: bool = True) -> str:
        self.ran.append(command)
        return ""


def test_fab_stops_the_servers_debian_s_packages_started_on_its_ports() -> None:
    """On a fresh Debian host the packages run their own PostgreSQL cluster (5432), pgbouncer,
    Redis, memcached and gearmand: fab setup stops them for good before starting its units."""
    inventory = example()
    answered = DbCluster(primary=inventory.hosts["db1"])
    said: list[str] = []
    ran: dict[str, list[str]] = {}
    for name in ("db1", "redis1", "cache1", "gearman1"):
        host = inventory.hosts[name]
        services = host_services(host, SETTINGS, cluster_of(inventory, host, answered))
        debian = PackageHost(set(PACKAGE_UNITS_ENABLED), cluster_auto=True)
        disable_package_units(debian, host, services, said.append)  # type: ignore[arg-type]
        ran[name] = debian.ran
    assert ran["db1"] == [
        "systemctl disable --now postgresql.service",
        "sed -i 's/^auto$/manual/' /etc/postgresql/15/main/start.conf"
        " && systemctl stop postgresql@15-main.service",
        "systemctl disable --now pgbouncer.service",
        "systemctl disable --now redis-sentinel.service",  # db1 is one of the three Sentinels' hosts
    ]
    assert ran["redis1"][0] == "systemctl disable --now redis-server.service"
    assert "systemctl disable --now memcached.service" in ran["cache1"]
    assert ran["gearman1"] == ["systemctl disable --now gearman-job-server.service"]
    # A second run finds them disabled and the cluster manual: nothing to do.
    host = inventory.hosts["db1"]
    services = host_services(host, SETTINGS, cluster_of(inventory, host, answered))
    again = PackageHost(set(), cluster_auto=False)
    disable_package_units(again, host, services, said.append)  # type: ignore[arg-type]
    assert again.ran == []


PACKAGE_UNITS_ENABLED = (
    "postgresql.service",
    "pgbouncer.service",
    "redis-server.service",
    "redis-sentinel.service",
    "memcached.service",
    "gearman-job-server.service",
)
