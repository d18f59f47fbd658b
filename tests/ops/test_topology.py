"""The topology file the ops commands read, and their independence from the development launcher."""

import ast
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from deploy.fleet.inventory import Inventory
from deploy.fleet.roles import inventory_settings, render_topology
from ops import topology
from ops.topology import TopologyError
from tests.conftest import Stack

ROOT = Path(__file__).resolve().parent.parent.parent

# A database host of a real fleet, as `fab setup` writes it: systemd, Debian's paths.
DB_HOST = """
[host]
service_manager = "systemctl"
service_user = "postgres"

[postgres]
bin = "/usr/lib/postgresql/15/bin"
socket_dir = "/var/run/postgresql"
primary_file = "state/postgres-primary"
replication_user = "replicator"
standby_name = "standby1"
database = "instagram_main"
db_user = "instagram"
pgbouncer_reconfigure = ["/srv/instagram/current/.venv/bin/python", "manage.py", "render_pgbouncer"]

[[postgres.nodes]]
name = "postgresql@15-main"
host = "10.0.2.11"
port = 5432
data = "/var/lib/postgresql/15/main"

[[postgres.nodes]]
name = "postgresql@15-standby"
host = "10.0.2.12"
port = 5432
data = "/var/lib/postgresql/15/standby"

[redis]
service = "redis-server"
port = 6379
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topology.toml"
    path.write_text(text)
    return path


def test_a_real_hosts_topology_is_read_with_systemd_and_its_hosts(tmp_path: Path) -> None:
    t = topology.load(write(tmp_path, DB_HOST))
    assert t.service_manager == "systemctl"
    assert t.supervisor_conf is None
    assert t.service_user == "postgres"
    assert t.pg_bin == Path("/usr/lib/postgresql/15/bin")
    assert [(n.name, n.host, n.port) for n in t.pg_nodes] == [
        ("postgresql@15-main", "10.0.2.11", 5432),
        ("postgresql@15-standby", "10.0.2.12", 5432),
    ]
    assert t.node("postgresql@15-standby").data == Path("/var/lib/postgresql/15/standby")
    # Relative paths are read from the file's folder.
    assert t.primary_file == tmp_path / "state" / "postgres-primary"
    assert t.pgbouncer_reconfigure[-1] == "render_pgbouncer"
    assert (t.redis_service, t.redis_port) == ("redis-server", 6379)
    assert t.sync_standby_names == "ANY 1 (standby1)"


def test_the_roles_follow_the_primary_file(tmp_path: Path) -> None:
    t = topology.load(write(tmp_path, DB_HOST))
    assert t.pg_roles() == ("postgresql@15-main", "postgresql@15-standby")
    (tmp_path / "state").mkdir()
    t.record_primary("postgresql@15-standby")
    assert t.pg_roles() == ("postgresql@15-standby", "postgresql@15-main")
    with pytest.raises(TopologyError, match="no PostgreSQL node 'elsewhere'"):
        t.record_primary("elsewhere")


def test_systemctl_is_the_service_manager_of_a_real_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = topology.load(write(tmp_path, DB_HOST))
    ran: list[list[str]] = []

    def fake_run(cmd: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        ran.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    t.service("stop", "postgresql@15-main")
    assert ran[-1][-3:] == ["systemctl", "stop", "postgresql@15-main"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('service_manager = "systemctl"', 'service_manager = "init.d"'), "service_manager must be one of"),
        (("port = 6379", 'port = "6379"'), "'port' must be a int"),
        (('service_user = "postgres"\n', ""), "missing 'service_user'"),
        (('service_manager = "systemctl"', 'service_manager = "supervisorctl"'), "missing 'supervisor_conf'"),
    ],
)
def test_a_wrong_topology_fails_naming_the_key(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    with pytest.raises(TopologyError, match=message):
        topology.load(write(tmp_path, DB_HOST.replace(*change)))


def test_a_missing_file_fails_naming_it(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="cannot read the topology file"):
        topology.load(tmp_path / "absent.toml")


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_no_module_of_ops_imports_the_development_launcher() -> None:
    sources = sorted((ROOT / "ops").rglob("*.py"))
    assert len(sources) > 5
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path) if m.split(".")[0] == "deploy")
        for path in sources
    }
    assert {path: modules for path, modules in offenders.items() if modules} == {}


def test_importing_every_ops_module_loads_nothing_of_deploy() -> None:
    # Transitively too: what ops imports must not reach the launcher either.
    modules = sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in (ROOT / "ops").rglob("*.py")
        if path.name != "__init__.py"
    )
    program = (
        "import django, sys; django.setup(); import importlib\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'deploy' or m.startswith('deploy.')))"
    )
    result = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_local_stack_writes_a_topology_the_ops_commands_read(stack: Stack) -> None:
    t = topology.load(Path(settings.TOPOLOGY))
    assert t.service_manager == "supervisorctl"
    assert [(node.name, node.port) for node in t.pg_nodes] == [
        ("postgres-primary", stack.profile.pg_primary),
        ("postgres-standby", stack.profile.pg_standby),
    ]
    assert t.redis_port == urlsplit(settings.REDIS_URL).port
    assert t.pg_roles()[0] in {"postgres-primary", "postgres-standby"}
    assert t.service("status", t.redis_service, check=False).stdout.split()[1] == "RUNNING"
    # Every Redis instance the app uses, and the Sentinels it asks for primaries.
    assert [(i.name, i.port, i.replica_port) for i in t.redis_instances] == [
        ("main", stack.profile.redis_primary, stack.profile.redis_replica),
        ("feed-0", stack.profile.redis_feeds[0], stack.profile.redis_feed_replicas[0]),
        ("feed-1", stack.profile.redis_feeds[1], stack.profile.redis_feed_replicas[1]),
    ]
    assert [urlsplit(url).port for url in settings.REDIS_FEED_URLS] == [i.port for i in t.redis_instances[1:]]
    assert list(t.redis_sentinels) == settings.REDIS_SENTINELS
    for instance in t.redis_instances:
        for service in (instance.service, instance.replica_service):
            assert t.service("status", service, check=False).stdout.split()[1] == "RUNNING"


def test_fab_setup_renders_a_db_hosts_topology_and_the_lb_addresses_from_the_inventory() -> None:
    inventory = Inventory.load(ROOT / "deploy" / "inventory.example.toml")
    db1, app1 = inventory.hosts["db1"], inventory.hosts["app1"]
    t = topology.parse(tomllib.loads(render_topology(inventory, db1)), path=Path("/srv/x/topology.toml"))
    assert t.service_manager == "systemctl"
    assert [(n.name, n.host, n.port, n.data) for n in t.pg_nodes] == [
        ("postgresql@15-main", "10.0.2.11", 5432, Path("/var/lib/postgresql/15/main"))
    ]
    assert t.primary() == "postgresql@15-main"
    with pytest.raises(TopologyError, match="names no standby"):
        t.pg_roles()
    # The Redis unit `fab setup` installs (deploy/fleet/services.py).
    assert (t.redis_service, t.redis_port) == ("instagram-redis", 6379)
    assert t.pgbouncer_reconfigure == ("systemctl", "reload", "instagram-pgbouncer")
    servers = {
        "MEMCACHED_SERVERS": "10.0.2.31:11211",
        "GEARMAN_SERVERS": "10.0.2.41:4730",
        "REDIS_SENTINELS": "10.0.2.11:26379,10.0.2.21:26379,10.0.2.31:26379",
        # The host's own pgbouncer, which repmgr's event hook repoints at a promoted standby.
        "DB_HOST": "127.0.0.1",
        "DB_REPLICA_HOST": "127.0.0.1",
    }
    assert inventory_settings(inventory, app1, set()) == {
        "FORWARDED_ALLOW_IPS": "10.0.0.10",
        **servers,
    }
    assert inventory_settings(inventory, db1, set()) == {
        "FORWARDED_ALLOW_IPS": "10.0.0.10",
        **servers,
        "IG_TOPOLOGY": "/srv/instagram/shared/topology.toml",
    }
    # What the operator's settings file says wins.
    given = {
        "FORWARDED_ALLOW_IPS",
        "MEMCACHED_SERVERS",
        "GEARMAN_SERVERS",
        "REDIS_SENTINELS",
        "DB_HOST",
        "DB_REPLICA_HOST",
    }
    assert inventory_settings(inventory, app1, given) == {}
