"""repmgr's event notification hook: pgbouncer follows a node repmgrd promoted.

repmgrd runs it (`event_notification_command` in deploy/postgresql/repmgr.conf)
as the service user, with the settings in its environment (IG_TOPOLOGY,
DB_*), under the system's Python: the standard library and ops/topology.py
only, as the app's virtualenv may not be readable by that user.

    python3 ops/repmgr_hook.py <node id> <event> <success>

On `repmgrd_failover_promote` (success 1) it resets the new primary's
synchronous_standby_names (it has no standby yet: every commit would wait),
records it as the primary in the topology's primary file, re-renders
pgbouncer's files for it and RELOADs both pgbouncers. Other events are
logged only. The node id is the node's place in the topology's
[[postgres.nodes]], as repmgr.conf numbers them.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ops.topology import Topology, TopologyError, load


def say(message: str) -> None:
    print(f"repmgr_hook: {message}", flush=True)


def psql(t: Topology, node: str, query: str) -> None:
    """Run `query` on `node` as the superuser, over the host's unix socket."""
    port = str(t.node(node).port)
    cmd = [str(t.pg_bin / "psql"), "-h", str(t.socket_dir), "-p", port, "-U", "postgres", "-d", "postgres"]
    t.run([*cmd, "-v", "ON_ERROR_STOP=1", "-Atqc", query])


def reload_pgbouncers(t: Topology) -> None:
    """RELOAD the pgbouncer of the primary's names and the standby's, on their admin consoles."""
    env = {"PGPASSWORD": os.environ["DB_PASSWORD"], "PGCONNECT_TIMEOUT": "2"}
    for host, port in (
        (os.environ["DB_HOST"], os.environ["DB_PORT"]),
        (os.environ["DB_REPLICA_HOST"], os.environ["DB_REPLICA_PORT"]),
    ):
        cmd = [str(t.pg_bin / "psql"), "-h", host, "-p", port, "-U", os.environ["DB_USER"], "-d", "pgbouncer"]
        t.run([*cmd, "-c", "RELOAD"], env=env)


def after_promotion(t: Topology, node: str) -> None:
    psql(t, node, "ALTER SYSTEM RESET synchronous_standby_names")
    psql(t, node, "SELECT pg_reload_conf()")
    say(f"{node} is the primary; its commits wait for no standby until one streams")
    t.record_primary(node)
    t.reconfigure_pgbouncer()
    reload_pgbouncers(t)
    say(f"pgbouncer points at {node}")


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        say("usage: repmgr_hook.py <node id> <event> <success>")
        return 2
    node_id, event, success = argv
    say(f"{event} on node {node_id} (success={success})")
    if event != "repmgrd_failover_promote" or success != "1":
        return 0
    try:
        t = load(Path(os.environ["IG_TOPOLOGY"]))
        index = int(node_id) - 1
        if not 0 <= index < len(t.pg_nodes):
            raise TopologyError(f"{t.path} has no node {node_id}")
        after_promotion(t, t.pg_nodes[index].name)
    except (KeyError, ValueError, TopologyError) as exc:
        say(f"failed: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
