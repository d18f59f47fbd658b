"""/oauth/authorize: log-in, consent, the server-side and client-side flows, denial, redirect_uri checks."""

from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings
from oauth2_provider.models import AccessToken, Grant

from tests.conftest import Stack
from tests.oauth.conftest import (
    Client,
    authorize_params,
    code_for,
    code_grant,
    consent_page,
    decide,
    disable_implicit,
    exchange,
    form_fields,
    fragment_of,
    log_in,
    new_user,
    query_of,
    register,
    scopes_listed,
)
from users.models import User

DENIED = "error=access_denied&error_reason=user_denied&error_description=The+user+denied+your+request."


def test_code_flow_log_in_approve_exchange_use(
    healthy_stack: Stack, http: requests.Session, client_app: Client, kevin: User
) -> None:
    params = authorize_params(client_app, scope="likes", state="s-42")
    first = http.get(f"{healthy_stack.api}/oauth/authorize", params=params, allow_redirects=False, timeout=10)
    assert first.status_code == 302
    assert first.headers["Location"].startswith("/oauth/login?next=/oauth/authorize%3F")

    page = consent_page(http, healthy_stack, client_app, kevin, scope="likes", state="s-42")
    assert client_app.application.name in page.text
    assert scopes_listed(page.text) == ["basic", "likes"]
    assert "Like and unlike media on your behalf" in page.text
    assert page.headers["X-Frame-Options"] == "DENY"

    location = decide(http, healthy_stack, page, "approve")
    assert location.startswith(client_app.redirect_uri + "?")
    answer = query_of(location)
    assert answer["state"] == "s-42"

    exchanged = exchange(requests.Session(), healthy_stack, **code_grant(client_app, answer["code"]))
    assert exchanged.status_code == 200, exchanged.text
    body = exchanged.json()
    assert body == {
        "access_token": body["access_token"],
        "user": {
            "id": str(kevin.id),
            "username": kevin.username,
            "full_name": "Kevin S",
            "profile_picture": f"{settings.CDN_URL}/profiles/anonymousUser.jpg",
        },
    }
    me = http.get(
        f"{healthy_stack.api}/v1/users/self", params={"access_token": body["access_token"]}, timeout=10
    )
    assert me.status_code == 200, me.text
    assert me.json()["data"]["username"] == kevin.username

    token = AccessToken.objects.get(application=client_app.application, user=kevin)
    assert token.scope == "basic likes"
    assert not Grant.objects.filter(application=client_app.application).exists()  # the code is spent


def test_implicit_flow_puts_the_token_in_the_fragment(
    healthy_stack: Stack, http: requests.Session, client_app: Client, kevin: User
) -> None:
    page = consent_page(http, healthy_stack, client_app, kevin, response_type="token", state="st")
    location = decide(http, healthy_stack, page, "approve")
    assert location.startswith(client_app.redirect_uri + "#access_token=")
    assert urlsplit(location).query == ""
    fragment = fragment_of(location)
    assert fragment["state"] == "st"
    assert fragment["scope"] == "basic"
    me = http.get(
        f"{healthy_stack.api}/v1/users/self", params={"access_token": fragment["access_token"]}, timeout=10
    )
    assert me.json()["data"]["id"] == str(kevin.id)
    assert not Grant.objects.filter(application=client_app.application).exists()


def test_an_app_that_disabled_implicit_oauth_gets_no_token(
    healthy_stack: Stack, http: requests.Session, client_app: Client, kevin: User
) -> None:
    disable_implicit(client_app)
    log_in(http, healthy_stack, kevin)
    refused = http.get(
        f"{healthy_stack.api}/oauth/authorize",
        params=authorize_params(client_app, response_type="token"),
        allow_redirects=False,
        timeout=10,
    )
    assert refused.status_code == 302
    assert refused.headers["Location"].startswith(client_app.redirect_uri + "#error=unauthorized_client")
    assert not AccessToken.objects.filter(application=client_app.application).exists()
    code = code_for(http, healthy_stack, client_app, kevin)  # the server-side flow still works
    assert code


@pytest.mark.parametrize(("response_type", "separator"), [("code", "?"), ("token", "#")])
def test_denial_redirects_with_v1_parameters(
    healthy_stack: Stack,
    http: requests.Session,
    client_app: Client,
    kevin: User,
    response_type: str,
    separator: str,
) -> None:
    page = consent_page(http, healthy_stack, client_app, kevin, response_type=response_type, state="abc")
    location = decide(http, healthy_stack, page, "deny")
    assert location == f"{client_app.redirect_uri}{separator}{DENIED}&state=abc"
    assert not AccessToken.objects.filter(application=client_app.application).exists()
    assert not Grant.objects.filter(application=client_app.application).exists()


def test_scopes_granted_are_the_ones_approved(
    healthy_stack: Stack, http: requests.Session, client_app: Client, kevin: User
) -> None:
    other = new_user()

    def token_for(**extra: str) -> str:
        code = code_for(http, healthy_stack, client_app, kevin, **extra)
        answer = exchange(http, healthy_stack, **code_grant(client_app, code))
        return str(answer.json()["access_token"])

    def follow(token: str) -> requests.Response:
        return http.post(
            f"{healthy_stack.api}/v1/users/{other.id}/relationship",
            params={"access_token": token},
            data={"action": "follow"},
            timeout=10,
        )

    basic_only = token_for()
    assert AccessToken.objects.get(token=basic_only).scope == "basic"
    refused = follow(basic_only)
    assert refused.status_code == 400
    assert refused.json()["meta"]["error_type"] == "OAuthPermissionsException"

    more = token_for(scope="relationships comments")
    assert AccessToken.objects.get(token=more).scope == "basic relationships comments"
    assert follow(more).status_code == 200


def test_unknown_scope_is_sent_back_to_the_app(
    healthy_stack: Stack, http: requests.Session, client_app: Client, kevin: User
) -> None:
    log_in(http, healthy_stack, kevin)
    refused = http.get(
        f"{healthy_stack.api}/oauth/authorize",
        params=authorize_params(client_app, scope="photos", state="z"),
        allow_redirects=False,
        timeout=10,
    )
    assert refused.status_code == 302
    assert query_of(refused.headers["Location"]) == {"error": "invalid_scope", "state": "z"}


def test_redirect_uri_must_match_exactly(healthy_stack: Stack, http: requests.Session, kevin: User) -> None:
    # A loopback URI: DOT alone would accept it back on any port (RFC 8252).
    registered = "http://127.0.0.1:8765/oauth/callback"
    client = register(redirect_uri=registered)
    log_in(http, healthy_stack, kevin)
    impostors = [
        "http://127.0.0.1:8765/oauth/call",  # a prefix
        "http://127.0.0.1:8765/oauth/callback/more",  # an extra path
        "http://127.0.0.1:8765/oauth/callback?next=evil",  # an extra query
        "http://127.0.0.1:8765/oauth/callback?",
        "http://127.0.0.1:8766/oauth/callback",  # another port
        "http://127.0.0.1/oauth/callback",
        "https://127.0.0.1:8765/oauth/callback",  # another scheme
        "http://localhost:8765/oauth/callback",  # another host
        "http://127.0.0.1:8765/OAUTH/callback",
        "http://127.0.0.1:8765/oauth/callback#x",
        "http://evil@127.0.0.1:8765/oauth/callback",
    ]
    for response_type in ("code", "token"):
        for uri in impostors:
            page = http.get(
                f"{healthy_stack.api}/oauth/authorize",
                params={"client_id": client.client_id, "redirect_uri": uri, "response_type": response_type},
                allow_redirects=False,
                timeout=10,
            )
            assert page.status_code == 400, (uri, page.status_code, page.headers.get("Location"))
            assert "Location" not in page.headers
            assert "The redirect_uri " in page.text, uri
    exact = http.get(
        f"{healthy_stack.api}/oauth/authorize",
        params={"client_id": client.client_id, "redirect_uri": registered, "response_type": "code"},
        timeout=10,
    )
    assert exact.status_code == 200
    assert 'id="app-name"' in exact.text


def test_unknown_client_shows_an_error_page_logged_in_or_not(
    healthy_stack: Stack, http: requests.Session, kevin: User
) -> None:
    params = {"client_id": "no-such-app", "redirect_uri": "https://evil.example/cb", "response_type": "code"}
    for attempt in range(2):
        page = http.get(
            f"{healthy_stack.api}/oauth/authorize", params=params, allow_redirects=False, timeout=10
        )
        assert page.status_code == 400
        assert "Location" not in page.headers
        assert "No app is registered with client_id no-such-app." in page.text
        if attempt == 0:
            log_in(http, healthy_stack, kevin)
    no_client = http.get(f"{healthy_stack.api}/oauth/authorize", allow_redirects=False, timeout=10)
    assert no_client.status_code == 400
    assert "The request has no client_id." in no_client.text


def test_a_forged_consent_post_is_refused(
    healthy_stack: Stack, http: requests.Session, client_app: Client, kevin: User
) -> None:
    page = consent_page(http, healthy_stack, client_app, kevin)
    fields = form_fields(page.text, "/oauth/authorize")
    forged = dict(fields, decision="approve", csrfmiddlewaretoken="forged")
    answer = http.post(f"{healthy_stack.api}/oauth/authorize", data=forged, allow_redirects=False, timeout=10)
    assert answer.status_code == 403
    # A POST that changes the redirect_uri is validated again, and never redirects.
    tampered = dict(fields, decision="deny", redirect_uri="https://evil.example/cb")
    answer = http.post(
        f"{healthy_stack.api}/oauth/authorize", data=tampered, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 400
    assert "Location" not in answer.headers
    assert not Grant.objects.filter(application=client_app.application).exists()


def test_log_out_then_the_page_asks_to_log_in_again(
    healthy_stack: Stack, http: requests.Session, client_app: Client, kevin: User
) -> None:
    page = consent_page(http, healthy_stack, client_app, kevin)
    assert kevin.username in page.text
    fields = form_fields(page.text, "/oauth/logout")
    after = http.post(f"{healthy_stack.api}/oauth/logout", data=fields, timeout=10)
    assert "/oauth/login?next=/oauth/authorize" in after.url
    assert 'name="password"' in after.text
