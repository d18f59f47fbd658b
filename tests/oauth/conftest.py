"""Fixtures and helpers for the OAuth provider's tests: apps, users, the log-in and consent pages."""

import re
import uuid
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from oauth2_provider.models import Application

from oauth.actions import check_register_client
from oauth.models import ClientPolicy
from tests.conftest import Stack
from users.actions import check_sign_up
from users.models import User

PASSWORD = "kodachrome-64"


@dataclass(frozen=True)
class Client:
    """A registered third-party app and its secret in clear."""

    application: Application
    secret: str

    @property
    def client_id(self) -> str:
        return str(self.application.client_id)

    @property
    def redirect_uri(self) -> str:
        return str(self.application.redirect_uris)


def register(*, name: str = "", redirect_uri: str = "", trusted: bool = False) -> Client:
    tag = uuid.uuid4().hex[:8]
    application, secret = check_register_client(
        name=name or f"Hipstamatic {tag}",
        redirect_uri=redirect_uri or f"https://app-{tag}.example.com/oauth/callback",
        trusted=trusted,
    )
    return Client(application=application, secret=secret)


@pytest.fixture
def client_app() -> Client:
    return register()


@pytest.fixture
def trusted_app() -> Client:
    return register(trusted=True)


def new_user(full_name: str = "Kevin S") -> User:
    return check_sign_up(username=f"k_{uuid.uuid4().hex[:12]}", password=PASSWORD, full_name=full_name)


@pytest.fixture
def kevin() -> User:
    return new_user()


def disable_implicit(client: Client) -> None:
    ClientPolicy.objects.filter(application=client.application).update(implicit_disabled=True)


class _Forms(HTMLParser):
    """Collect each form's action and its input fields (hidden and submit buttons alike)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append((values.get("action", ""), {}))
        elif tag == "input" and self.forms and "name" in values:
            self.forms[-1][1][values["name"]] = values.get("value", "")


def form_fields(html: str, action: str) -> dict[str, str]:
    """Return the fields of the page's form that posts to `action`."""
    parser = _Forms()
    parser.feed(html)
    for form_action, fields in parser.forms:
        if form_action == action:
            return fields
    raise AssertionError(f"no form posting to {action} in:\n{html}")


def log_in(http: requests.Session, stack: Stack, user: User, *, next_url: str = "") -> requests.Response:
    """Log in through /oauth/login as a browser would; return the page it lands on."""
    page = http.get(f"{stack.api}/oauth/login", params={"next": next_url} if next_url else None, timeout=10)
    fields = form_fields(page.text, "/oauth/login")
    fields.update(username=user.username, password=PASSWORD)
    return http.post(f"{stack.api}/oauth/login", data=fields, timeout=10)


def authorize_params(client: Client, **extra: str) -> dict[str, str]:
    return {
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri,
        "response_type": "code",
        **extra,
    }


def consent_page(
    http: requests.Session, stack: Stack, client: Client, user: User, **extra: str
) -> requests.Response:
    """Open /oauth/authorize for `client` and log in on the way; return the consent page."""
    first = http.get(f"{stack.api}/oauth/authorize", params=authorize_params(client, **extra), timeout=10)
    if "/oauth/login" in first.url:
        next_url = parse_qs(urlsplit(first.url).query)["next"][0]
        first = log_in(http, stack, user, next_url=next_url)
    assert first.status_code == 200, first.text
    assert 'id="app-name"' in first.text, first.text
    return first


def decide(http: requests.Session, stack: Stack, page: requests.Response, decision: str) -> str:
    """Click Authorize ("approve") or Cancel ("deny") on the consent page; return where it redirects."""
    fields = form_fields(page.text, "/oauth/authorize")
    fields["decision"] = decision
    answer = http.post(f"{stack.api}/oauth/authorize", data=fields, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return str(answer.headers["Location"])


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def fragment_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).fragment).items()}


def exchange(http: requests.Session, stack: Stack, **data: str) -> requests.Response:
    return http.post(f"{stack.api}/oauth/access_token", data=data, timeout=10)


def code_grant(client: Client, code: str) -> dict[str, str]:
    """The form a server-side client posts to /oauth/access_token to trade `code` for a token."""
    return {
        "client_id": client.client_id,
        "client_secret": client.secret,
        "grant_type": "authorization_code",
        "redirect_uri": client.redirect_uri,
        "code": code,
    }


def code_for(http: requests.Session, stack: Stack, client: Client, user: User, **extra: str) -> str:
    """Run the server-side flow up to the code: log in, approve, read the code off the redirect."""
    page = consent_page(http, stack, client, user, **extra)
    return query_of(decide(http, stack, page, "approve"))["code"]


def flat(response: requests.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    return body


def scopes_listed(html: str) -> list[str]:
    return re.findall(r'data-scope="([a-z]+)"', html)
