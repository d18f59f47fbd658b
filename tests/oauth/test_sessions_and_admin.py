"""Web sessions in Redis, shared by both app servers; client registration by command and admin."""

import hashlib
import hmac
import io
import re
from datetime import timedelta

import pytest
import redis
import requests
from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.contrib.sessions.backends.cache import SessionStore
from django.core.cache import caches
from django.core.management import CommandError, call_command
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from oauth.models import ClientPolicy
from tests.conftest import Stack
from tests.oauth.conftest import PASSWORD, Client, consent_page, form_fields, log_in, new_user
from users.models import User


def test_web_sessions_live_in_redis_and_serve_both_app_servers(
    healthy_stack: Stack, http: requests.Session, client_app: Client, kevin: User
) -> None:
    log_in(http, healthy_stack, kevin)
    session_key = http.cookies["sessionid"]
    redis_key = caches["sessions"].make_key(SessionStore(session_key=session_key).cache_key)
    assert redis_key.startswith("ig:session:")
    server = redis.Redis.from_url(settings.REDIS_URL)
    assert server.exists(redis_key) == 1
    assert 0 < server.ttl(redis_key) <= settings.SESSION_COOKIE_AGE
    assert SessionStore(session_key=session_key).get("_auth_user_id") == str(kevin.id)

    served_by = set()
    for _ in range(8):
        page = consent_page(http, healthy_stack, client_app, kevin)
        served_by.add(page.headers["X-Served-By"])
        assert kevin.username in page.text
    assert served_by == {"app-1", "app-2"}

    logged_out = http.post(
        f"{healthy_stack.api}/oauth/logout", data=form_fields(page.text, "/oauth/logout"), timeout=10
    )
    assert logged_out.status_code == 200
    assert server.exists(redis_key) == 0


def test_api_requests_never_touch_the_session(healthy_stack: Stack, http: requests.Session) -> None:
    for path in ("/ping", "/v1/users/self"):
        answer = http.get(f"{healthy_stack.api}{path}", timeout=10)
        assert "Set-Cookie" not in answer.headers
        assert "Cookie" not in answer.headers.get("Vary", "")


def test_wrong_password_on_the_login_page(healthy_stack: Stack, http: requests.Session, kevin: User) -> None:
    page = http.get(f"{healthy_stack.api}/oauth/login", timeout=10)
    fields = form_fields(page.text, "/oauth/login")
    fields.update(username=kevin.username, password="ektachrome")
    answer = http.post(f"{healthy_stack.api}/oauth/login", data=fields, timeout=10)
    assert answer.status_code == 200
    assert "didn't match" in answer.text
    assert "sessionid" not in http.cookies


def run_register_client(*args: str) -> tuple[str, str]:
    out = io.StringIO()
    call_command("register_client", *args, stdout=out)
    printed = out.getvalue()
    client_id = re.search(r"^client_id: (\S+)$", printed, re.MULTILINE)
    secret = re.search(r"^client_secret: (\S+)$", printed, re.MULTILINE)
    assert client_id, printed
    assert secret, printed
    return client_id[1], secret[1]


def test_register_client_prints_the_secret_once_and_stores_its_hash() -> None:
    owner = new_user()
    client_id, secret = run_register_client(
        "--name", "Sunset Filters", "--redirect-uri", "https://sunset.example/cb", "--user", owner.username
    )
    application = Application.objects.get(client_id=client_id)
    assert application.name == "Sunset Filters"
    assert application.user == owner
    assert application.redirect_uris == "https://sunset.example/cb"
    assert (application.client_type, application.authorization_grant_type) == (
        "confidential",
        "authorization-code",
    )
    assert application.client_secret != secret
    assert check_password(secret, application.client_secret)
    assert ClientPolicy.objects.get(application=application).trusted is False

    trusted_id, _ = run_register_client(
        "--name", "Partner", "--redirect-uri", "https://p.example/cb", "--trusted"
    )
    assert ClientPolicy.objects.get(application__client_id=trusted_id).trusted is True


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--redirect-uri", "ftp://sunset.example/cb"], "redirect_uris"),
        (["--redirect-uri", "https://a.example/cb https://b.example/cb"], "exactly one redirect URI"),
        (
            ["--redirect-uri", "https://a.example/cb", "--user", "nobody_at_all_x"],
            "no user named nobody_at_all_x",
        ),
    ],
)
def test_register_client_refuses_bad_input(args: list[str], problem: str) -> None:
    before = Application.objects.count()
    with pytest.raises(CommandError, match=problem):
        call_command("register_client", "--name", "Bad", *args, stdout=io.StringIO())
    assert Application.objects.count() == before


def test_the_admin_lists_and_edits_apps(
    healthy_stack: Stack, http: requests.Session, client_app: Client
) -> None:
    staff = new_user()
    User.objects.filter(id=staff.id).update(is_staff=True, is_superuser=True)
    login_page = http.get(f"{healthy_stack.api}/admin/login/", timeout=10)
    fields = form_fields(login_page.text, "/admin/login/")
    fields.update(username=staff.username, password=PASSWORD, next="/admin/")
    home = http.post(f"{healthy_stack.api}/admin/login/", data=fields, timeout=10)
    assert home.status_code == 200
    assert "Site administration" in home.text
    listing = http.get(f"{healthy_stack.api}/admin/oauth2_provider/application/", timeout=10)
    assert listing.status_code == 200
    assert client_app.application.name in listing.text
    change = http.get(
        f"{healthy_stack.api}/admin/oauth2_provider/application/{client_app.application.pk}/change/",
        timeout=10,
    )
    assert change.status_code == 200
    assert "Instagram client policy" in change.text
    assert "disable implicit oauth" in change.text.lower()
    # A plain user may not enter.
    outsider = requests.Session()
    log_in(outsider, healthy_stack, new_user())
    refused = outsider.get(
        f"{healthy_stack.api}/admin/oauth2_provider/application/", allow_redirects=False, timeout=10
    )
    assert refused.status_code == 302
    assert refused.headers["Location"].startswith("/admin/login/")


def test_an_app_made_in_the_admin_can_sign_its_requests(healthy_stack: Stack, http: requests.Session) -> None:
    """The admin's new app enforces signed requests, and its secret (shown once) signs them."""
    staff = new_user()
    User.objects.filter(id=staff.id).update(is_staff=True, is_superuser=True)
    login_page = http.get(f"{healthy_stack.api}/admin/login/", timeout=10)
    fields = form_fields(login_page.text, "/admin/login/")
    fields.update(username=staff.username, password=PASSWORD, next="/admin/")
    assert http.post(f"{healthy_stack.api}/admin/login/", data=fields, timeout=10).status_code == 200
    add_url = f"{healthy_stack.api}/admin/oauth2_provider/application/add/"
    form = form_fields(http.get(add_url, timeout=10).text, "")
    secret = form["client_secret"]  # generated and shown in clear, this once
    name = f"Admin-made {secret[:6]}"
    form.update(
        {
            "name": name,
            "client_type": "confidential",
            "authorization_grant_type": "authorization-code",
            "redirect_uris": "https://admin-made.example/cb",
            "post_logout_redirect_uris": "",
            "allowed_origins": "",
            "algorithm": "",
            "policy-TOTAL_FORMS": "1",
            "policy-INITIAL_FORMS": "0",
            "policy-0-enforce_signed_requests": "on",
            "hash_client_secret": "on",  # checked by default, as a browser sends it
        }
    )
    saved = http.post(add_url, data=form, timeout=10, allow_redirects=False)
    assert saved.status_code == 302, saved.text[-3000:]
    app = Application.objects.get(name=name)
    assert app.policy.enforce_signed_requests
    assert app.client_secret != secret  # DOT keeps only its hash

    owner = new_user()
    token = AccessToken.objects.create(
        user=owner,
        application=app,
        token=f"{owner.id}.admin.{secret[:32]}",
        expires=timezone.now() + timedelta(hours=1),
        scope="basic",
    ).token
    url = f"{healthy_stack.api}/v1/users/self"
    unsigned = requests.get(url, params={"access_token": token}, timeout=10)
    assert unsigned.json()["meta"]["error_type"] == "OAuthForbiddenException"
    message = f"/users/self|access_token={token}"
    sig = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    signed = requests.get(url, params={"access_token": token, "sig": sig}, timeout=10)
    assert signed.status_code == 200, signed.text
    assert signed.json()["data"]["id"] == str(owner.id)
