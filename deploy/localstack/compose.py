"""deploy/docker/'s configuration files, rendered from the native stack's templates."""

from __future__ import annotations

from deploy.localstack.base import DEPLOY, ROOT, say
from deploy.localstack.configs import template_values
from deploy.localstack.profiles import PROFILES
from deploy.localstack.templates import geo_allow, render, upstream_servers

COMPOSE_DIR = DEPLOY / "docker"
# Files docker-compose.yml mounts, rendered from the same templates as the
# native stack so the two topologies cannot drift apart.
COMPOSE_FILES = {
    "nginx.conf": "nginx/nginx.conf",
    "pgbouncer.ini": "pgbouncer/pgbouncer.ini",
    "userlist.txt": "pgbouncer/userlist.txt",
}


def compose_values() -> dict[str, object]:
    """Return template values for the docker-compose topology (service names as hosts)."""
    values = template_values(PROFILES["dev"])
    values.update(
        {
            "nginx_user": "nginx",
            "var": "/var/cache/instagram",
            "log": "/var/log/nginx",
            "run": "/var/run",
            "etc": "/etc/pgbouncer",
            "listen_host": "0.0.0.0",  # noqa: S104 (inside its container)
            "status_allow": "172.16.0.0/12",
            # The app containers, on compose's default network.
            "cdn_purge_allow": geo_allow(["127.0.0.1/32", "172.16.0.0/12"]),
            "app_servers": upstream_servers(["app1:8000", "app2:8000"]),
            "s3_addr": "minio:9000",
            "nginx_port": 8000,
            "cdn_port": 8001,
            "nginx_tls_port": 8443,
            "cdn_tls_port": 8444,
            # The `tls` service writes them into the volume nginx mounts there.
            "tls_certificate": "/etc/nginx/tls/server.pem",
            "tls_certificate_key": "/etc/nginx/tls/server.key",
            "pg_primary_host": "postgres",
            "pg_primary_port": 5432,
            "pg_standby_host": "postgres-standby",
            "pg_standby_port": 5432,
            "pgbouncer_port": 6432,
            "query_wait_timeout": 30,
            "fallback_database": "",
        }
    )
    return values


def render_compose_files() -> dict[str, str]:
    values = compose_values()
    files = {
        target: render((DEPLOY / source).read_text(), values) for target, source in COMPOSE_FILES.items()
    }
    replica_values = {**values, "query_wait_timeout": 2, "fallback_database": ""}
    files["pgbouncer-replica.ini"] = render((DEPLOY / "pgbouncer/pgbouncer.ini").read_text(), replica_values)
    return files


def write_compose_files() -> None:
    for name, text in render_compose_files().items():
        (COMPOSE_DIR / name).write_text(text)
        say(f"wrote {(COMPOSE_DIR / name).relative_to(ROOT)}")
