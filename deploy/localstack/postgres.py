"""PostgreSQL's two nodes: the primary, the standby repmgr clones, and synchronous replication."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from deploy.localstack.base import PG_BIN, ROOT, SERVICE_USER, SYSTEM_PYTHON, StackError, run, say
from deploy.localstack.profiles import Profile
from deploy.localstack.supervisor import start_program, supervisorctl

DB_USER = "instagram"
DB_PASSWORD = "instagram"  # local stacks only; production sets DB_PASSWORD
REPLICATION_USER = "replicator"
MAIN_DB = "instagram_main"
SHARD_DBS = ("instagram_shard0", "instagram_shard1")
# The two PostgreSQL nodes, by supervisord program. Each keeps its name, port
# and data folder for good; which one is the primary now is written in
# var/<profile>/postgres-primary by a failover (ops/postgres.py), absent = the first.
PG_NODES = ("postgres-primary", "postgres-standby")
# The standby's application_name and slot, whichever node it is; commits wait
# for it (synchronous replication) once it streams.
# (The name of a standby set up without repmgr, in the topology file;
# repmgr's standby streams under its node's name, whichever node it is.)
STANDBY_NAME = "standby1"
SYNC_STANDBY_NAMES = "ANY 1 ({})".format(", ".join(f'"{node}"' for node in PG_NODES))


def repmgr_conf(node: str) -> str:
    """Return the name of `node`'s repmgr.conf in var/<profile>/etc."""
    return f"repmgr-{node.removeprefix('postgres-')}.conf"


def repmgrd_program(node: str) -> str:
    return f"repmgrd-{node.removeprefix('postgres-')}"


def repmgr_node_values(p: Profile, node: str) -> dict[str, object]:
    """repmgr.conf's values for `node`: its repmgr node id is its place in PG_NODES."""
    return {
        "repmgr_node_id": PG_NODES.index(node) + 1,
        "repmgr_node_name": node,
        "repmgr_conf": repmgr_conf(node),
        "repmgrd_program": repmgrd_program(node),
        "system_python": SYSTEM_PYTHON,
        "repmgr_event_command": f"{SYSTEM_PYTHON} {ROOT}/ops/repmgr_hook.py",
        # The unix socket: trusted, so repmgr needs no password file.
        "pg_node_host": p.var / "run",
        "pg_node_data": pg_datadir(p, node),
        "replication_user": REPLICATION_USER,
    }


def repmgr_renders(p: Profile, values: dict[str, object]) -> list[tuple[str, str, dict[str, object]]]:
    """One repmgr.conf per PostgreSQL node."""
    return [
        (
            repmgr_conf(node),
            "postgresql/repmgr.conf",
            {**values, **repmgr_node_values(p, node), "pg_node_port": pg_port(p, node)},
        )
        for node in PG_NODES
    ]


def psql(p: Profile, sql: str, *, db: str = "postgres") -> str:
    return run(
        [
            "psql",
            "-h",
            str(p.var / "run"),
            "-p",
            str(pg_port(p, pg_roles(p)[0])),
            "-U",
            "postgres",
            "-d",
            db,
            "-v",
            "ON_ERROR_STOP=1",
            "-Atqc",
            sql,
        ],
        user=SERVICE_USER,
    ).stdout.strip()


def pg_roles(p: Profile) -> tuple[str, str]:
    """Return the (primary, standby) PostgreSQL nodes, by supervisord program."""
    state = p.var / "postgres-primary"
    primary = state.read_text().strip() if state.exists() else PG_NODES[0]
    if primary not in PG_NODES:
        raise StackError(f"{state} names {primary!r}, not one of {', '.join(PG_NODES)}")
    return primary, next(node for node in PG_NODES if node != primary)


def pg_port(p: Profile, node: str) -> int:
    return p.pg_primary if node == PG_NODES[0] else p.pg_standby


def pg_datadir(p: Profile, node: str) -> Path:
    return p.var / "data" / ("pg-primary" if node == PG_NODES[0] else "pg-standby")


def init_primary(p: Profile) -> None:
    datadir = pg_datadir(p, pg_roles(p)[0])
    if (datadir / "PG_VERSION").exists():
        return
    say("initializing the PostgreSQL primary")
    run(
        [
            str(PG_BIN / "initdb"),
            "-D",
            str(datadir),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ],
        user=SERVICE_USER,
    )


def create_databases(p: Profile) -> None:
    """Create the roles and the main and shard databases once; later runs skip it."""
    roles = psql(p, "SELECT string_agg(rolname, ',') FROM pg_roles").split(",")
    if DB_USER not in roles:
        psql(p, f"CREATE ROLE {DB_USER} LOGIN PASSWORD '{DB_PASSWORD}'")
    if REPLICATION_USER not in roles:
        psql(p, f"CREATE ROLE {REPLICATION_USER} REPLICATION LOGIN PASSWORD '{DB_PASSWORD}'")
    existing = psql(p, "SELECT string_agg(datname, ',') FROM pg_database").split(",")
    for name in (MAIN_DB, *SHARD_DBS):
        if name not in existing:
            say(f"creating database {name}")
            psql(p, f"CREATE DATABASE {name} OWNER {DB_USER}")
            # Fixed per database, so Django never needs a session-level SET
            # that would leak through pgbouncer's transaction pooling.
            psql(p, f"ALTER DATABASE {name} SET timezone TO 'UTC'")


def repmgr(p: Profile, node: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `repmgr -f <node's repmgr.conf> args...` as the service user."""
    conf = p.var / "etc" / repmgr_conf(node)
    return run([str(PG_BIN / "repmgr"), "-f", str(conf), *args], user=SERVICE_USER, check=check)


def register_primary(p: Profile) -> None:
    """Give repmgr its database on the primary and register the primary there (once)."""
    primary = pg_roles(p)[0]
    if psql(p, "SELECT count(*) FROM pg_database WHERE datname = 'repmgr'") == "0":
        psql(p, "CREATE DATABASE repmgr")
    repmgr(p, primary, "primary", "register", "--force")


def build_standby(p: Profile) -> None:
    """Make the node that is not the primary a hot standby of it: repmgr's `standby clone`.

    A data folder that is a standby already is kept. One that is not (the
    former primary, after a failover) is moved aside to `<folder>.diverged`,
    replacing an older one: it may hold commits that no client saw
    acknowledged, which the new timeline does not have. `manage.py
    rebuild_standby` (ops/postgres.py) is the same clone for the operator.
    """
    primary, standby = pg_roles(p)
    datadir = pg_datadir(p, standby)
    if (datadir / "standby.signal").exists():
        return
    if (pg_datadir(p, primary) / "standby.signal").exists():
        raise StackError(
            f"{primary} is recorded as the primary ({p.var / 'postgres-primary'}) but is a standby: "
            "correct that file rather than rebuild the real primary"
        )
    if (datadir / "PG_VERSION").exists():
        supervisorctl(p, "stop", standby, check=False)
        aside = datadir.with_name(f"{datadir.name}.diverged")
        shutil.rmtree(aside, ignore_errors=True)
        datadir.rename(aside)
        say(f"{standby} was no standby: its data folder moved to {aside}")
    say(f"cloning the hot standby {standby} from {primary} with repmgr")
    shutil.rmtree(datadir, ignore_errors=True)
    source = f"host={p.var / 'run'} port={pg_port(p, primary)} user=postgres dbname=repmgr"
    repmgr(p, standby, "-d", source, "standby", "clone", "--fast-checkpoint")


def register_standby(p: Profile) -> None:
    """Register the running standby with repmgr (again, after a clone)."""
    repmgr(p, pg_roles(p)[1], "standby", "register", "--force", "--wait-sync=30")


def start_repmgrd(p: Profile) -> None:
    """Start repmgr's daemon for each node, once both are registered: it fails over from then on."""
    for node in PG_NODES:
        start_program(p, repmgrd_program(node))


def require_sync_standby(p: Profile, timeout: float = 60) -> None:
    """Make commits on the primary wait for the standby, once it streams.

    Not before: with synchronous_standby_names set and no standby connected,
    every commit waits. A failover clears it (release_sync_standby) until the
    new standby streams; docs/failover-and-backups.md has the trade-off.
    """
    streaming = (
        "SELECT count(*) FROM pg_stat_replication"
        f" WHERE application_name = '{pg_roles(p)[1]}' AND state = 'streaming'"
    )
    deadline = time.monotonic() + timeout
    while psql(p, streaming) == "0":
        if time.monotonic() > deadline:
            raise StackError(f"the standby {pg_roles(p)[1]} is not streaming after {timeout:.0f}s")
        time.sleep(0.2)
    if psql(p, "SHOW synchronous_standby_names") != SYNC_STANDBY_NAMES:
        psql(p, f"ALTER SYSTEM SET synchronous_standby_names = '{SYNC_STANDBY_NAMES}'")
        psql(p, "SELECT pg_reload_conf()")


def release_sync_standby(p: Profile) -> None:
    """Let commits on the primary go on without a standby (asynchronous replication)."""
    psql(p, "ALTER SYSTEM RESET synchronous_standby_names")
    psql(p, "SELECT pg_reload_conf()")


def wait_pg_ready(p: Profile, port: int, program: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port)], check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise StackError(f"{program} is not accepting connections; read {p.var / 'log' / program}.log")
        time.sleep(0.2)
