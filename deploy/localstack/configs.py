"""Every file the stack runs with, rendered from deploy/ into var/<profile>/etc, and its settings."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from deploy.localstack.base import DEPLOY, PG_BIN, ROOT, SERVICE_USER, SYSTEM_PYTHON, VENV
from deploy.localstack.postgres import (
    DB_PASSWORD,
    DB_USER,
    MAIN_DB,
    PG_NODES,
    REPLICATION_USER,
    SHARD_DBS,
    STANDBY_NAME,
    pg_datadir,
    pg_port,
    pg_roles,
    repmgr_conf,
    repmgr_node_values,
    repmgr_renders,
    repmgrd_program,
)
from deploy.localstack.profiles import Profile
from deploy.localstack.redis_sentinel import (
    redis_instances,
    redis_programs,
    redis_programs_by_port,
    sentinel_monitors,
    write_sentinel_configs,
)
from deploy.localstack.templates import geo_allow, render, upstream_servers

BUCKET = "instagram-media"
# Base backups, archived WAL and Redis dumps: never in the media bucket, which
# the CDN serves to anyone.
BACKUP_BUCKET = "instagram-backups"


def environment(p: Profile) -> dict[str, str]:
    """Return the 12-factor settings the app and workers of this stack read."""
    return {
        "IG_ENVIRONMENT": p.name,
        "IG_TOPOLOGY": str(p.var / "etc" / "topology.toml"),
        "DJANGO_SETTINGS_MODULE": "instagram.settings",
        "DJANGO_SECRET_KEY": f"local-{p.name}-only-secret-key-not-for-production-use",
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
        "PUBLIC_BASE_URL": f"http://localhost:{p.nginx}",
        "PUBLIC_TLS_BASE_URL": f"https://localhost:{p.nginx_tls}",
        "LOG_FORMAT": "text",
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(p.pgbouncer),
        "DB_USER": DB_USER,
        "DB_PASSWORD": DB_PASSWORD,
        "DB_MAIN": "main",
        "DB_SHARDS": "shard0,shard1",
        "LOGICAL_SHARDS": str(p.logical_shards),
        "RATE_LIMIT_REQUESTS_PER_HOUR": str(p.rate_limits[0]),
        "RATE_LIMIT_WRITES_PER_HOUR": str(p.rate_limits[1]),
        "CREDENTIAL_FAILURES_PER_ADDRESS": str(p.credential_limits[0]),
        "CREDENTIAL_FAILURES_PER_ACCOUNT": str(p.credential_limits[1]),
        "CREDENTIAL_FAILURES_PER_CLIENT": str(p.credential_limits[2]),
        "DB_REPLICA_HOST": "127.0.0.1",
        "DB_REPLICA_PORT": str(p.pgbouncer_replica),
        "REDIS_URL": f"redis://127.0.0.1:{p.redis_primary}/0",
        "REDIS_REPLICA_URL": f"redis://127.0.0.1:{p.redis_replica}/0",
        "REDIS_FEED_URLS": ",".join(f"redis://127.0.0.1:{port}/0" for port in p.redis_feeds),
        "REDIS_FEED_REPLICA_URLS": ",".join(f"redis://127.0.0.1:{port}/0" for port in p.redis_feed_replicas),
        "REDIS_SENTINELS": ",".join(f"127.0.0.1:{port}" for port in p.redis_sentinels),
        "MEMCACHED_SERVERS": f"127.0.0.1:{p.memcached}",
        "GEARMAN_SERVERS": f"127.0.0.1:{p.gearmand}",
        "S3_ENDPOINT_URL": f"http://127.0.0.1:{p.s3}",
        "S3_BUCKET": BUCKET,
        "S3_REGION": "us-east-1",
        "BACKUP_BUCKET": BACKUP_BUCKET,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "CDN_URL": f"http://localhost:{p.cdn}",
        "CDN_PURGE_URL": f"http://127.0.0.1:{p.cdn}",
        "FEED_FANOUT_MAX_FOLLOWERS": str(p.fanout_max_followers),
        "FEED_FANOUT_CHUNK": str(p.fanout_chunk),
        "JOB_RETRY_SECONDS": str(p.job_retry_seconds),
        "FIELD_ENCRYPTION_KEYS": f"local-{p.name}-only-encryption-key-not-for-production-use",
        # Subscription callbacks on 127.0.0.1 (the API refuses private addresses in production).
        "SUBSCRIPTION_CALLBACKS_ALLOW_PRIVATE": "1",
        "APNS_HOST": "127.0.0.1",
        "APNS_PORT": str(p.sandbox_apns),
        "APNS_CA_FILE": str(p.var / "sandbox" / "ca.pem"),
        "APNS_KEY_FILE": str(p.var / "sandbox" / "apns-auth-key.p8"),
        "APNS_KEY_ID": "SANDBOXKEY",
        "APNS_TEAM_ID": "SANDBOXTEAM",
        "APNS_TOPIC": "com.burbn.instagram",
        "TWITTER_API_URL": f"http://127.0.0.1:{p.sandbox_twitter}",
        "FACEBOOK_API_URL": f"http://127.0.0.1:{p.sandbox_facebook}",
        # Error reports and alerts go to the Sentry and PagerDuty sandboxes.
        "SENTRY_DSN": f"http://localsentrykey@127.0.0.1:{p.sandbox_sentry}/1",
        "PAGERDUTY_EVENTS_URL": f"http://127.0.0.1:{p.sandbox_pagerduty}/v2/enqueue",
        "PAGERDUTY_ROUTING_KEY": f"local-{p.name}-routing-key",
        # Mail (password resets) goes to the SMTP sandbox, which records it.
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(p.sandbox_smtp),
    }


def template_values(p: Profile) -> dict[str, object]:
    var = p.var
    return {
        "root": ROOT,
        "var": var,
        "etc": var / "etc",
        "log": var / "log",
        "run": var / "run",
        "data": var / "data",
        "venv": VENV,
        "pg_bin": PG_BIN,
        "service_user": SERVICE_USER,
        "nginx_user": SERVICE_USER if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name,
        "listen_host": "127.0.0.1",
        "status_allow": "127.0.0.1",
        "cdn_purge_allow": geo_allow(["127.0.0.1/32", "::1/128"]),
        "app_servers": upstream_servers([f"127.0.0.1:{port}" for port in p.apps]),
        "s3_addr": f"127.0.0.1:{p.s3}",
        "pg_primary_host": "127.0.0.1",
        "pg_standby_host": "127.0.0.1",
        "nginx_port": p.nginx,
        "cdn_port": p.cdn,
        "nginx_tls_port": p.nginx_tls,
        "cdn_tls_port": p.cdn_tls,
        # Written by ensure_tls (deploy/tls.py); production renders its own paths.
        "tls_certificate": p.var / "tls" / "server.pem",
        "tls_certificate_key": p.var / "tls" / "server.key",
        "app1_port": p.apps[0],
        "app2_port": p.apps[1],
        # Where pgbouncer sends the primary's and the standby's names: the
        # nodes' roles, which a failover swaps.
        "pg_primary_port": pg_port(p, pg_roles(p)[0]),
        "pg_standby_port": pg_port(p, pg_roles(p)[1]),
        # The port in postgresql.conf, set for each node by write_configs.
        "pg_node_port": p.pg_primary,
        "pgbouncer_port": p.pgbouncer,
        "query_wait_timeout": 30,
        # Other names reach the primary's database of that name (scratch
        # databases of benchmarks and tools); the standby's instance has none.
        "fallback_database": f"* = host=127.0.0.1 port={pg_port(p, pg_roles(p)[0])}",
        "redis_primary_port": p.redis_primary,
        "redis_replica_port": p.redis_replica,
        "redis_primary_dir": "redis-primary",
        "redis_replica_dir": "redis-replica",
        "redis_programs": redis_programs(p),
        # deploy/redis/sentinel.conf, for the first Sentinel (write_sentinel_configs sets each one's).
        "sentinel_port": p.redis_sentinels[0],
        "sentinel_dir": "redis-sentinel-1",
        "monitors": sentinel_monitors(p),
        "memcached_port": p.memcached,
        "gearmand_port": p.gearmand,
        "s3_port": p.s3,
        "sandbox_apns_port": p.sandbox_apns,
        "sandbox_twitter_port": p.sandbox_twitter,
        "sandbox_facebook_port": p.sandbox_facebook,
        "sandbox_sentry_port": p.sandbox_sentry,
        "sandbox_pagerduty_port": p.sandbox_pagerduty,
        "sandbox_smtp_port": p.sandbox_smtp,
        "bucket": BUCKET,
        "backup_bucket": BACKUP_BUCKET,
        "workers": p.workers,
        "db_user": DB_USER,
        "db_password": DB_PASSWORD,
        "main_db": MAIN_DB,
        "shard0_db": SHARD_DBS[0],
        "shard1_db": SHARD_DBS[1],
        # repmgr.conf's values for the first node; write_configs renders one per node.
        **repmgr_node_values(p, PG_NODES[0]),
        "supervisor_env": ",".join(f'{key}="{value}"' for key, value in environment(p).items()),
    }


def write_configs(p: Profile) -> list[str]:
    """Render every file under deploy/ that the stack runs with into var/<profile>/etc.

    Returns the names of the files whose content changed.
    """
    values = template_values(p)
    for sub in ("etc", "log", "run", "data", "nginx"):
        (p.var / sub).mkdir(parents=True, exist_ok=True)
    ensure_tls(p)
    files = {
        "supervisord.conf": "supervisor/supervisord.conf",
        "pg_hba.conf": "postgresql/pg_hba.conf",
        "pgbouncer.ini": "pgbouncer/pgbouncer.ini",
        "pgbouncer-users.txt": "pgbouncer/userlist.txt",
        "nginx.conf": "nginx/nginx.conf",
    }
    changed: list[str] = []
    renders = [(target, source, values) for target, source in files.items()]
    # The standby's own pgbouncer: a client waits 2 s at most for a standby
    # connection, then falls back to the primary (sharding.routing).
    replica_values = {
        **values,
        "pgbouncer_port": p.pgbouncer_replica,
        "query_wait_timeout": 2,
        "fallback_database": "",
    }
    renders.append(("pgbouncer-replica.ini", "pgbouncer/pgbouncer.ini", replica_values))
    for instance in redis_instances(p):
        redis_values = {
            **values,
            "redis_primary_port": instance.port,
            "redis_replica_port": instance.replica_port,
            "redis_primary_dir": instance.program,
            "redis_replica_dir": instance.replica_program,
        }
        renders.append((f"{instance.program}.conf", "redis/primary.conf", redis_values))
        renders.append((f"{instance.replica_program}.conf", "redis/replica.conf", redis_values))
    # Either node may be the primary or the standby: one file, its own port.
    for node in PG_NODES:
        node_values = {**values, "pg_node_port": pg_port(p, node)}
        renders.append(
            (f"{node.replace('postgres', 'postgresql')}.conf", "postgresql/postgresql.conf", node_values)
        )
    renders += repmgr_renders(p, values)
    for target, source, template_vars in renders:
        text = render((DEPLOY / source).read_text(), template_vars)
        path = p.var / "etc" / target
        if not path.exists() or path.read_text() != text:
            changed.append(target)
            path.write_text(text)
    if os.geteuid() == 0:
        (p.var / "etc" / "pgbouncer-users.txt").chmod(0o600)
    write_sentinel_configs(p, values)
    write_topology(p)
    env_lines = [f"{key}={value}" for key, value in environment(p).items()]
    write_if_changed(p.var / "env", "\n".join(env_lines) + "\n")
    for sub in (*redis_programs_by_port(p), "gearmand"):
        (p.var / "data" / sub).mkdir(exist_ok=True)
    if os.geteuid() == 0:
        owned = [p.var / "data", p.var / "run", p.var / "nginx", p.var / "etc" / "pgbouncer-users.txt"]
        for path in owned:
            shutil.chown(path, SERVICE_USER, SERVICE_USER)
        for sub in (*redis_programs_by_port(p), "gearmand"):
            shutil.chown(p.var / "data" / sub, SERVICE_USER, SERVICE_USER)
        repmgr_hook_writable(p)
    return changed


def write_if_changed(path: Path, text: str) -> None:
    # The repmgr event hook runs `configs` as the service user: it rewrites
    # only what a failover changes (repmgr_hook_writable).
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def repmgr_hook_writable(p: Profile) -> None:
    """Let repmgrd's event hook (the service user) record a new primary and re-render pgbouncer's files."""
    primary_file = p.var / "postgres-primary"
    if not primary_file.exists():
        primary_file.write_text(f"{pg_roles(p)[0]}\n")
    for path in (primary_file, p.var / "etc" / "pgbouncer.ini", p.var / "etc" / "pgbouncer-replica.ini"):
        shutil.chown(path, SERVICE_USER, SERVICE_USER)


def ensure_tls(p: Profile) -> None:
    """Give nginx a certificate from the stack's own CA (var/<profile>/tls), unless it has one.

    In the virtualenv: deploy/tls.py needs the `cryptography` package.
    """
    if not os.access(VENV / "bin" / "python", os.X_OK) and (p.var / "tls" / "server.pem").exists():
        return  # the service user re-rendering pgbouncer (repmgr's hook) may not run root's venv
    subprocess.run(
        [str(VENV / "bin" / "python"), "-m", "deploy.tls", str(p.var / "tls")], cwd=ROOT, check=True
    )


def topology_toml(p: Profile) -> str:
    """Return the topology file the ops commands read for this stack (ops/topology.py)."""
    nodes = "".join(
        f'\n[[postgres.nodes]]\nname = "{node}"\nhost = "127.0.0.1"\nport = {pg_port(p, node)}\n'
        f'data = "{pg_datadir(p, node)}"\nrepmgr_conf = "{p.var / "etc" / repmgr_conf(node)}"\n'
        f'repmgrd = "{repmgrd_program(node)}"\n'
        for node in PG_NODES
    )
    reconfigure = [SYSTEM_PYTHON, str(DEPLOY / "stack.py"), "configs", "--profile", p.name]
    redis_nodes = "".join(
        f'\n[[redis.instances]]\nname = "{i.name}"\nservice = "{i.program}"\nhost = "127.0.0.1"\n'
        f'port = {i.port}\nreplica_service = "{i.replica_program}"\nreplica_port = {i.replica_port}\n'
        for i in redis_instances(p)
    )
    return (
        f"# Written by deploy/stack.py for the stack {p.name}; read by ops/topology.py.\n"
        f'[host]\nservice_manager = "supervisorctl"\nsupervisorctl = "{VENV / "bin" / "supervisorctl"}"\n'
        f'supervisor_conf = "{p.var / "etc" / "supervisord.conf"}"\nservice_user = "{SERVICE_USER}"\n\n'
        f'[postgres]\nbin = "{PG_BIN}"\nsocket_dir = "{p.var / "run"}"\n'
        f'primary_file = "{p.var / "postgres-primary"}"\nreplication_user = "{REPLICATION_USER}"\n'
        f'standby_name = "{STANDBY_NAME}"\ndatabase = "{MAIN_DB}"\ndb_user = "{DB_USER}"\n'
        f"pgbouncer_reconfigure = {json.dumps(reconfigure)}\n{nodes}\n"
        f'[redis]\nservice = "redis-primary"\nport = {p.redis_primary}\n'
        f"sentinels = {json.dumps([f'127.0.0.1:{port}' for port in p.redis_sentinels])}\n{redis_nodes}"
    )


def write_topology(p: Profile) -> None:
    write_if_changed(p.var / "etc" / "topology.toml", topology_toml(p))
