"""Production settings refuse the published development keys, and pass `check --deploy`."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def production_env(**overrides: str) -> dict[str, str]:
    """Return a bare environment of a production host (nothing from the test stack)."""
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "instagram.settings",
        "IG_ENVIRONMENT": "production",
        "DJANGO_ALLOWED_HOSTS": "api.instagram.com",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
        "FIELD_ENCRYPTION_KEYS": secrets.token_urlsafe(48),
    }
    env.update(overrides)
    return {name: value for name, value in env.items() if value}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DJANGO_SECRET_KEY", "local-dev-only-secret-key-not-for-production-use"),
        ("DJANGO_SECRET_KEY", ""),
        ("FIELD_ENCRYPTION_KEYS", "local-dev-only-encryption-key-not-for-production-use"),
        ("FIELD_ENCRYPTION_KEYS", ""),
        ("FIELD_ENCRYPTION_KEYS", f"{secrets.token_urlsafe(48)},change-me-to-a-long-random-secret"),
    ],
)
def test_production_refuses_development_or_missing_keys(name: str, value: str) -> None:
    result = run(production_env(**{name: value}), "-c", "import django; django.setup()")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{name} is missing or a development key" in result.stderr


def test_production_settings_pass_check_deploy() -> None:
    result = run(production_env(), "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_local_stacks_keep_their_development_keys() -> None:
    env = production_env(IG_ENVIRONMENT="test-b", DJANGO_SECRET_KEY="", FIELD_ENCRYPTION_KEYS="")
    result = run(env, "-c", "import django; django.setup(); print('ok')")
    assert result.returncode == 0, result.stderr


def test_production_logs_json_and_the_local_stacks_text() -> None:
    show = "import django; django.setup(); from django.conf import settings; print(settings.LOG_FORMAT)"
    assert run(production_env(), "-c", show).stdout.strip() == "json"
    assert run(production_env(IG_ENVIRONMENT="test-b"), "-c", show).stdout.strip() == "text"
    refused = run(production_env(LOG_FORMAT="xml"), "-c", show)
    assert refused.returncode != 0
    assert "LOG_FORMAT must be text or json, got 'xml'" in refused.stderr


HSTS_PROBE = """
import django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="api.instagram.com")
tls = client.get("/ping", headers={"X-Forwarded-Proto": "https"})  # what nginx sets on its TLS port
plain = client.get("/ping", headers={"X-Forwarded-Proto": "http"})
print(tls.status_code, tls.headers.get("Strict-Transport-Security"))
print(plain.status_code, plain.headers.get("Location"), plain.headers.get("Strict-Transport-Security"))
"""


def test_production_sends_hsts_over_https_and_redirects_plain_http() -> None:
    result = run(production_env(LOG_LEVEL="WARNING"), "-c", HSTS_PROBE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "200 max-age=31536000; includeSubDomains; preload",
        "301 https://api.instagram.com/ping None",
    ]
