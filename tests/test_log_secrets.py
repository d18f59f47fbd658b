"""No token or secret a client sends (query, form body, Bearer header) lands in any log of the stack."""

import secrets
from pathlib import Path

import requests

from tests.conftest import Stack


def test_secrets_appear_in_no_log_file(healthy_stack: Stack, http: requests.Session) -> None:
    secret = f"leak{secrets.token_hex(12)}"
    api = healthy_stack.api
    sent = [
        # Failed ones too: an unknown token, a wrong client secret and password.
        http.get(f"{api}/v1/users/self", params={"access_token": secret}, timeout=10),
        http.get(f"{api}/v1/users/self", headers={"Authorization": f"Bearer {secret}"}, timeout=10),
        http.get(
            f"{api}/v1/media/popular",
            params={"client_id": secret, "sig": secret, "code": secret, "client_secret": secret},
            timeout=10,
        ),
        http.post(
            f"{api}/oauth/access_token",
            data={
                "client_id": "nobody",
                "client_secret": secret,
                "grant_type": "password",
                "username": "nobody",
                "password": secret,
            },
            timeout=10,
        ),
        http.post(f"{api}/v1/accounts/login", data={"username": "nobody", "password": secret}, timeout=10),
        # nginx refuses this one itself (413), before any app server.
        http.post(f"{api}/v1/media/upload?access_token={secret}", data=b"x" * (17 << 20), timeout=10),
    ]
    assert [r.status_code for r in sent] == [400, 400, 400, 400, 400, 413]
    # nginx writes each access-log line unbuffered, when the request ends.
    access_log = healthy_stack.log / "nginx-access.log"

    leaks = {
        path.name: [line for line in path.read_text(errors="replace").splitlines() if secret in line]
        for path in sorted(Path(healthy_stack.log).glob("*"))
        if path.is_file()
    }
    assert {name: lines for name, lines in leaks.items() if lines} == {}
    assert "/v1/users/self" in access_log.read_text()  # the requests were logged, without their secrets
