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
from deploy.fleet.roles import render_topology
from deploy.fleet.services import host_files, host_services, supervisord_conf, systemd_unit
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
    for host in inventory.hosts.values():
        assert host.service_manager == "systemd"
        for service in host_services(host, SETTINGS):
            units[f"{host.name}:{service.unit}"] = systemd_unit(host, service)
    assert sorted(units) == [
        "cache1:instagram-memcached",
        "db1:instagram-pgbouncer",
        "db1:instagram-postgresql",
        "db1:instagram-repmgrd",
        "gearman1:instagram-gearmand",
        "redis1:instagram-redis",
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
    assert "--bind 10.0.2.21 127.0.0.1" in units["redis1:instagram-redis"]
    assert "--libsqlite3-db=/var/lib/instagram/gearmand/queue.sqlite3" in units["gearman1:instagram-gearmand"]
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
    assert (
        "replicaof 127.0.0.1" in files[f"{etc}/redis.conf"]
    )  # the template's, overridden on the command line:
    redis = next(s for s in host_services(db2, SETTINGS, standby) if s.name == "redis")
    assert redis.command.endswith(" --replicaof 10.0.2.21 6379")
    assert "appendonly yes" in files[f"{etc}/redis.conf"]
