"""Several PostgreSQL clusters in one inventory ([db_clusters]): what `fab setup` checks and renders.

The fleet test (test_fleet_postgres_clusters.py) runs two of them for real;
here the inventory's checks, each host's files and pgbouncer-repoint (run on
a copy of a rendered pgbouncer.ini) are checked without hosts.
"""

import subprocess
import sys
from pathlib import Path

import pytest
from invoke.exceptions import Exit

from deploy.fleet.inventory import Inventory, InventoryError
from deploy.fleet.roles import DbCluster, cluster_of, cluster_specs, render_topology
from deploy.fleet.services import host_files
from tests.fleet.fleet import ROOT

pytestmark = pytest.mark.fast

SETTINGS = {"DB_PORT": "6432", "DB_USER": "instagram", "DB_PASSWORD": "pw", "DB_SHARDS": "shard0,shard1"}
CLUSTERS = """
[db_clusters]
a = { hosts = ["db1", "db1b"], databases = ["main", "shard0"] }
b = { hosts = ["db2", "db2b"], databases = ["shard1"] }
"""
HOSTS = "".join(
    f'\n[hosts.{name}]\nhost = "{address}"\n'
    for name, address in (("db1b", "10.0.2.12"), ("db2", "10.0.2.13"), ("db2b", "10.0.2.14"))
)


def inventory(tmp_path: Path, clusters: str = CLUSTERS) -> Inventory:
    text = (ROOT / "deploy" / "inventory.example.toml").read_text()
    text = text.replace('db = ["db1"]', 'db = ["db1", "db1b", "db2", "db2b"]')
    text = text.replace("[hosts.app1]", clusters + "\n[hosts.app1]", 1)
    (tmp_path / "inventory.toml").write_text(text + HOSTS)
    return Inventory.load(tmp_path / "inventory.toml")


def answered(inv: Inventory) -> list[DbCluster]:
    """What a fresh fleet's db hosts answer (roles.db_clusters): each cluster's first host is its primary."""
    h = inv.hosts
    keys = ("ssh-ed25519 AAAA1 instagram-repmgr-hook@db1", "ssh-ed25519 AAAA2 instagram-repmgr-hook@db2")
    return [
        DbCluster(h["db1"], h["db1b"], keys, "a", (h["db1"], h["db1b"]), ("main", "shard0")),
        DbCluster(h["db2"], h["db2b"], keys, "b", (h["db2"], h["db2b"]), ("shard1",)),
    ]


ETC = "/srv/instagram/shared/services/etc"


def test_each_database_goes_to_its_own_clusters_primary_and_each_cluster_is_its_own_repmgr_cluster(
    tmp_path: Path,
) -> None:
    inv = inventory(tmp_path)
    assert [(s.name, s.hosts, s.databases) for s in cluster_specs(inv, SETTINGS)] == [
        ("a", ("db1", "db1b"), ("main", "shard0")),
        ("b", ("db2", "db2b"), ("shard1",)),
    ]
    clusters = answered(inv)
    app = host_files(inv.hosts["app1"], SETTINGS, cluster_of(inv, inv.hosts["app1"], clusters))
    ini = app[f"{ETC}/pgbouncer.ini"]
    for line in (
        "main = host=10.0.2.11 port=5432 dbname=instagram_main\n",
        "shard0 = host=10.0.2.11 port=5432 dbname=instagram_shard0\n",
        "shard1 = host=10.0.2.13 port=5432 dbname=instagram_shard1\n",
        "main_replica = host=10.0.2.12 port=5432 dbname=instagram_main\n",
        "shard0_replica = host=10.0.2.12 port=5432 dbname=instagram_shard0\n",
        "shard1_replica = host=10.0.2.14 port=5432 dbname=instagram_shard1\n",
    ):
        assert line in ini
    assert ini.count(" = host=") == 6
    # Cluster b's standby: node 2 of its own repmgr cluster, streaming from db2, commits wait within b.
    db2b = inv.hosts["db2b"]
    standby = cluster_of(inv, db2b, clusters)
    assert (standby.db_primary, standby.databases) == ("10.0.2.13:5432", ("shard1",))
    files = host_files(db2b, SETTINGS, standby)
    assert "node_id = 2\nnode_name = 'db2b'\n" in files[f"{ETC}/repmgr.conf"]
    hba = files[f"{ETC}/pg_hba.conf"]
    assert "host    replication  replicator  10.0.2.13/32" in hba
    assert "10.0.2.11/32" not in hba.split("replication")[-1].split("\n")[0]
    assert "host    replication  replicator  10.0.2.11/32" not in hba
    db2 = cluster_of(inv, inv.hosts["db2"], clusters)
    assert (db2.db_primary, db2.databases) == (None, ("shard1",))
    assert (
        "node_id = 1\nnode_name = 'db2'\n"
        in host_files(inv.hosts["db2"], SETTINGS, db2)[f"{ETC}/repmgr.conf"]
    )
    assert cluster_of(inv, inv.hosts["db1"], clusters).databases == ("main", "shard0")
    # The topology file of a db host names its own cluster's nodes.
    topology = render_topology(inv, inv.hosts["db2"], clusters)
    assert 'host = "10.0.2.13"' in topology
    assert 'host = "10.0.2.14"' in topology
    assert 'host = "10.0.2.11"' not in topology
    assert 'database = "instagram_shard1"' in topology  # one it holds: main is cluster a's
    assert 'database = "instagram_main"' in render_topology(inv, inv.hosts["db1"], clusters)


def app1_rendered(tmp_path: Path) -> Path:
    """Render app1's files under tmp_path; return its etc folder (pgbouncer-repoint's reload: a no-op)."""
    text = (tmp_path / "inventory.toml").read_text()
    text = text.replace('root = "/srv/instagram"', f'root = "{tmp_path / "app1"}"')
    text = text.replace("[defaults]\n", '[defaults]\nservice_manager = "supervisord"\n')
    text = text.replace('python = "python3"', f'python = "{sys.executable}"')
    (tmp_path / "inventory.toml").write_text(text)
    inv = Inventory.load(tmp_path / "inventory.toml")
    app1 = inv.hosts["app1"]
    files = host_files(app1, SETTINGS, cluster_of(inv, app1, answered(inv)))
    for path, content in files.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(content)
    ctl = tmp_path / "app1" / "shared" / "services" / "bin" / "supervisorctl"
    ctl.parent.mkdir(parents=True)
    ctl.write_text("#!/bin/sh\nexit 0\n")
    ctl.chmod(0o755)
    return tmp_path / "app1" / "shared" / "services" / "etc"


def repoint(etc: Path, *words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(etc / "pgbouncer-repoint"), *words], capture_output=True, text=True, check=False
    )


def test_pgbouncer_repoint_moves_only_the_promoted_clusters_databases(tmp_path: Path) -> None:
    inventory(tmp_path)
    etc = app1_rendered(tmp_path)
    # repmgr's hook on db2b, promoted: `repoint <itself>`.
    result = repoint(etc, "repoint", "10.0.2.14:5432")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "pgbouncer: shard1 on primary 10.0.2.14:5432, standby 10.0.2.14:5432\n"
    ini = (etc / "pgbouncer.ini").read_text()
    assert "shard1 = host=10.0.2.14 port=5432 dbname=instagram_shard1\n" in ini
    assert "shard1_replica = host=10.0.2.14 port=5432 dbname=instagram_shard1\n" in ini
    # Cluster a's lines as they were.
    assert "main = host=10.0.2.11 port=5432 dbname=instagram_main\n" in ini
    assert "shard0_replica = host=10.0.2.12 port=5432 dbname=instagram_shard0\n" in ini
    # A primary of one cluster with a standby of another: refused, nothing written.
    mixed = repoint(etc, "repoint", "10.0.2.11:5432", "10.0.2.13:5432")
    assert mixed.returncode == 2
    assert "of one cluster" in mixed.stderr
    assert (etc / "pgbouncer.ini").read_text() == ini


@pytest.mark.parametrize(
    ("clusters", "settings", "error"),
    [
        (
            CLUSTERS.replace('databases = ["shard1"]', 'databases = ["shard2"]'),
            SETTINGS,
            "no db_clusters entry holds shard1",
        ),
        (
            CLUSTERS,
            {**SETTINGS, "DB_SHARDS": "shard0"},
            "hold databases the settings do not name: shard1 (b)",
        ),
    ],
)
def test_every_database_of_the_settings_is_held_by_exactly_one_cluster(
    tmp_path: Path, clusters: str, settings: dict[str, str], error: str
) -> None:
    inv = inventory(tmp_path, clusters)
    with pytest.raises(Exit, match=error.replace("(", r"\(").replace(")", r"\)")):
        cluster_specs(inv, settings)


@pytest.mark.parametrize(
    ("clusters", "error"),
    [
        (
            CLUSTERS.replace('databases = ["shard1"]', 'databases = ["shard0"]'),
            "database shard0 is held by two clusters",
        ),
        (
            CLUSTERS.replace('hosts = ["db2", "db2b"]', 'hosts = ["db2", "db1b"]'),
            "db host db1b is in two clusters",
        ),
        (
            CLUSTERS.replace('hosts = ["db2", "db2b"]', 'hosts = ["db2", "app1"]'),
            "names 'app1', which is no db host",
        ),
        (
            CLUSTERS.replace('hosts = ["db2", "db2b"]', 'hosts = ["db2"]'),
            "db hosts in no db_clusters entry: db2b",
        ),
        (
            CLUSTERS.replace('hosts = ["db2", "db2b"]', 'hosts = ["db2", "db2b", "db1b"]'),
            "its primary and at most one standby",
        ),
    ],
)
def test_the_inventory_refuses_clusters_that_overlap_or_leave_a_db_host_out(
    tmp_path: Path, clusters: str, error: str
) -> None:
    with pytest.raises(InventoryError, match=error):
        inventory(tmp_path, clusters)


def test_without_db_clusters_one_cluster_holds_every_database(tmp_path: Path) -> None:
    inv = inventory(tmp_path, "")
    assert [(s.hosts, s.databases) for s in cluster_specs(inv, SETTINGS)] == [
        (("db1", "db1b"), ("main", "shard0", "shard1"))
    ]
