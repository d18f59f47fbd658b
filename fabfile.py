"""Deploy the app to the hosts of an inventory, and operate them (fabric 3).

    fab deploy [--revision REV]     build, upload, install, migrate, switch, reload; in parallel
    fab rollback [--release ID]     switch `current` back (to the release before it by default)
    fab setup --env FILE            upload the hosts' settings (KEY=VALUE lines) to <root>/shared/env;
                                    lb hosts: nginx for every app server of the inventory
    fab status                      health of every host of every role; exit 1 if anything is down
    fab releases                    the releases each host holds, and its current one
    fab restart [--full]            graceful gunicorn reload and worker restarts (--full: new masters)
    fab migrate                     manage.py migrate, then migrate_shards, once
    fab shards                      the shard map and rows per shard
    fab backup                      PostgreSQL backups on the db hosts, Redis on the redis hosts
    fab failover                    promote the standby (manage.py failover on the db host)
    fab -H db1 rejoin               make a primary repmgrd replaced the new primary's standby

The inventory is the TOML file named by $IG_INVENTORY (default deploy/inventory.toml);
deploy/inventory.example.toml documents every key. `fab -H name[,name...] <task>`
runs a task on those hosts only (inventory names, or user@address:port for a host
the inventory does not list). docs/deploy.md is the operator's guide; the work is done by deploy/fleet/.
"""

from __future__ import annotations

import time
from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from deploy.fleet.inventory import RELEASE_ROLES, ROLES, InventoryExecutor, targets
from deploy.fleet.operations import backup_commands, print_status, run_commands
from deploy.fleet.remote import Remote, RolloutError, fail, on_hosts, say
from deploy.fleet.roles import rejoin as rejoin_host
from deploy.fleet.roles import setup_hosts
from deploy.fleet.rollout import (
    build_artifact,
    first_with,
    migrate_release,
    release_state,
    restart_host,
    roll_back,
    roll_out,
)

# fabric.yaml names this module's executor: each task runs once with the whole host list.
__all__ = ["InventoryExecutor", "ns"]


@task(help={"revision": "git revision to deploy (default HEAD)"})
def deploy(c: Context, revision: str = "HEAD") -> None:
    """Deploy a git revision to every app, worker, db and redis host, in parallel."""
    inventory, hosts = targets(c, RELEASE_ROLES)
    started = time.monotonic()
    artifact = build_artifact(revision)
    try:
        roll_out(artifact, hosts, keep=inventory.keep_releases)
    finally:
        artifact.tarball.unlink(missing_ok=True)
    say(None, f"deployed {artifact.release} in {time.monotonic() - started:.1f}s")


@task(help={"release": "release id to switch to (default: the one before the current release)"})
def rollback(c: Context, release: str = "") -> None:
    """Switch every host back to an earlier release, and reload it."""
    _, hosts = targets(c, RELEASE_ROLES)
    release = roll_back(hosts, release)
    say(None, f"rolled back to {release}")


@task(help={"env": "local file of KEY=VALUE settings for the hosts (the app's environment)"})
def setup(c: Context, env: str) -> None:
    """Provision every host's roles: settings, topology file, servers, nginx.

    The settings file, then what the inventory decides and the file does not
    say (inventory_settings), goes to <root>/shared/env (mode 600) on app,
    worker, db and redis hosts; db and redis hosts get shared/topology.toml;
    db, redis, sentinel, cache and gearman hosts get their servers installed,
    configured and running (deploy/fleet/services.py); lb hosts get nginx in
    front of every app host of the inventory (render_lb_nginx).
    """
    inventory, hosts = targets(c, (*RELEASE_ROLES, "sentinel", "cache", "gearman", "lb"))
    source = Path(env)
    if not source.is_file():
        raise Exit(f"no such file: {env}", code=2)
    setup_hosts(inventory, hosts, source.read_text())


@task
def releases(c: Context) -> None:
    """List the releases on every host; the current one is starred."""
    _, hosts = targets(c, RELEASE_ROLES)
    try:
        states = on_hosts(hosts, release_state)
    except RolloutError as exc:
        raise fail("could not list releases", exc) from None
    for host, (names, current) in states.items():
        for name in names:
            say(host, f"{'*' if name == current else ' '} {name}")


@task(help={"full": "restart gunicorn's master too (after a gunicorn upgrade or a settings change)"})
def restart(c: Context, full: bool = False) -> None:
    """Reload gunicorn gracefully and restart workers between jobs (starting whatever is stopped)."""
    _, hosts = targets(c, ("app", "worker"))
    try:
        on_hosts(hosts, lambda remote: restart_host(remote, full=full))
    except RolloutError as exc:
        raise fail("restart failed", exc) from None


@task
def migrate(c: Context) -> None:
    """Apply migrations of the current release: manage.py migrate, then migrate_shards (once)."""
    _, hosts = targets(c, ("app", "worker"))
    migrator = first_with(hosts, "app")
    try:
        on_hosts([migrator], lambda r: migrate_release(r, r.host.path("current")))
    except RolloutError as exc:
        raise fail("migrate failed", exc) from None


@task
def shards(c: Context) -> None:
    """Print the shard map (ranges per database) and the rows in every shard."""
    _, hosts = targets(c, ("app", "worker"))
    host = first_with(hosts, "app")

    def shard_map(remote: Remote) -> str:
        return remote.manage(remote.host.path("current"), "shard_map", "--counts", step="shard_map")

    try:
        output = on_hosts([host], shard_map)
    except RolloutError as exc:
        raise fail("shards failed", exc) from None
    print(output[host], end="", flush=True)


@task(help={"list": "list the backups in the object store instead of taking new ones"})
def backup(c: Context, list_: bool = False) -> None:
    """Back up PostgreSQL on every db host and Redis on every redis host (manage.py backup_*)."""
    _, hosts = targets(c, ("db", "redis"))
    run_commands(backup_commands(hosts, list_only=list_), "backup")


@task(
    help={
        "planned": "switchover: stop the running primary cleanly first (loses nothing)",
        "force": "fail over even though the primary answers (it is fenced)",
        "no-rebuild": "leave the old primary stopped (manage.py rebuild_standby later)",
    }
)
def failover(c: Context, planned: bool = False, force: bool = False, no_rebuild: bool = False) -> None:
    """Promote the PostgreSQL standby: manage.py failover on the db host (-H picks one of several)."""
    _, hosts = targets(c, ("db",))
    if len(hosts) > 1:
        raise Exit(f"several db hosts ({', '.join(h.name for h in hosts)}): choose one with -H", code=2)
    flags = [
        f"--{name}" for name, on in (("planned", planned), ("force", force), ("no-rebuild", no_rebuild)) if on
    ]
    run_commands({hosts[0]: [["failover", *flags]]}, "failover")


@task
def rejoin(c: Context) -> None:
    """Make a db host repmgrd failed over from a standby of the new primary (-H names it).

    its data moved aside, repmgr standby clone, under the host's service manager, then
    every pgbouncer sends the `_replica` names to it (docs/deploy.md).
    """
    inventory, hosts = targets(c, ("db",))
    if len(hosts) != 1:
        raise Exit(
            f"name the db host to rejoin with -H (db hosts: {', '.join(h.name for h in hosts)})", code=2
        )
    rejoin_host(inventory, hosts[0])
    say(hosts[0], "rejoined as a standby")


@task
def status(c: Context) -> None:
    """Check every host of every role; exit 1 if anything is down."""
    _, hosts = targets(c, ROLES)
    down = print_status(hosts)
    if down:
        raise Exit(f"down: {', '.join(down)}", code=1)
    print("all hosts up", flush=True)


ns = Collection(deploy, rollback, setup, releases, status, restart, migrate, shards, backup, failover, rejoin)
