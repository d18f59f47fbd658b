"""docker-compose.yml describes the same topology and settings as the native stack."""

import configparser
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from deploy.localstack.compose import render_compose_files
from instagram.env import READ
from tests.conftest import ROOT

APP_SERVICES = ("app1", "app2", "worker", "migrate")
# What the settings read, plus the variable that selects the settings module.
VARIABLES = {*READ, "DJANGO_SETTINGS_MODULE"}
TOPOLOGY = {
    "postgres",
    "postgres-standby",
    "pgbouncer",
    "pgbouncer-replica",
    "redis",
    "redis-replica",
    "redis-feed",
    "redis-feed-replica",
    "memcached",
    "gearmand",
    "minio",
    "migrate",
    "app1",
    "app2",
    "worker",
    "nginx",
    "sandbox",
    "tls",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_file_is_valid_for_docker_compose() -> None:
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_compose_runs_every_component(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == TOPOLOGY
    assert compose["services"]["worker"]["deploy"]["replicas"] >= 2
    assert "libsqlite3" in compose["services"]["gearmand"]["command"]
    assert "--appendonly yes" in compose["services"]["redis-replica"]["command"]
    for redis in ("redis", "redis-replica"):  # the photo->user map's buckets stay listpacks
        assert "--hash-max-listpack-entries 1024" in compose["services"][redis]["command"]


def test_app_services_set_exactly_the_variables_the_settings_read(compose: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        assert set(compose["services"][name]["environment"]) == VARIABLES, name


def test_app_environment_points_at_the_compose_services(compose: dict[str, Any]) -> None:
    env = compose["services"]["app1"]["environment"]
    services = compose["services"]
    pgbouncer = configparser.ConfigParser(strict=False)
    pgbouncer.read_string((ROOT / "deploy/docker/pgbouncer.ini").read_text())
    assert env["DB_HOST"] == "pgbouncer"
    assert env["DB_REPLICA_HOST"] == "pgbouncer-replica"
    assert env["DB_REPLICA_HOST"] == "pgbouncer-replica"
    assert env["DB_PORT"] == pgbouncer["pgbouncer"]["listen_port"]
    assert pgbouncer["pgbouncer"]["pool_mode"] == "transaction"
    for db in [env["DB_MAIN"], *env["DB_SHARDS"].split(",")]:
        assert db in pgbouncer["databases"]
        assert f"{db}_replica" in pgbouncer["databases"]
        assert "host=postgres-standby" in pgbouncer["databases"][f"{db}_replica"]
    redis_feeds = [*env["REDIS_FEED_URLS"].split(","), *env["REDIS_FEED_REPLICA_URLS"].split(",")]
    for url in (env["REDIS_URL"], env["REDIS_REPLICA_URL"], *redis_feeds, env["S3_ENDPOINT_URL"]):
        assert urlsplit(url).hostname in services
    for address in (*env["MEMCACHED_SERVERS"].split(","), *env["GEARMAN_SERVERS"].split(",")):
        assert address.split(":")[0] in services
    cdn_port = urlsplit(env["CDN_URL"]).port
    assert f"{cdn_port}:{cdn_port}" in services["nginx"]["ports"]


def test_compose_configs_are_rendered_from_the_native_templates() -> None:
    for name, text in render_compose_files().items():
        committed = (ROOT / "deploy" / "docker" / name).read_text()
        assert committed == text, f"deploy/docker/{name} is stale: run python3 deploy/stack.py render-compose"


def test_env_example_documents_every_variable() -> None:
    lines = Path(ROOT / ".env.example").read_text().splitlines()
    documented = {ln.split("=", 1)[0] for ln in lines if ln and not ln.startswith("#")}
    assert documented == VARIABLES
