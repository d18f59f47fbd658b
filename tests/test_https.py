"""nginx terminates TLS: the API and the CDN over HTTPS and HTTP/2; links in the scheme of the request."""

import subprocess
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import Stack
from tests.photos.images import jpeg


def curl_http_version(stack: Stack, url: str) -> str:
    """GET `url` with curl offering HTTP/2, verifying with the stack's CA; return the version it spoke."""
    result = subprocess.run(
        ["curl", "--http2", "--silent", "--show-error", "--cacert", str(stack.tls_ca),
         "--output", "/dev/null", "--write-out", "%{http_version} %{http_code}", url],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return result.stdout


def test_the_api_answers_over_https_with_a_certificate_from_the_stacks_ca(
    healthy_stack: Stack, http: requests.Session
) -> None:
    response = http.get(f"{healthy_stack.api_tls}/ping", verify=str(healthy_stack.tls_ca), timeout=10)
    assert response.status_code == 200
    assert response.json() == {"meta": {"code": 200}, "data": {"pong": True}}
    # Not a certificate the system's CAs vouch for: a client must be given the CA.
    with pytest.raises(requests.exceptions.SSLError):
        http.get(f"{healthy_stack.api_tls}/ping", timeout=10)


def test_https_speaks_http2_and_plain_http_stays_http1(healthy_stack: Stack) -> None:
    assert curl_http_version(healthy_stack, f"{healthy_stack.api_tls}/ping") == "2 200"
    assert curl_http_version(healthy_stack, f"{healthy_stack.api}/ping") == "1.1 200"


def test_next_url_takes_the_scheme_of_the_request(
    signup: Any, healthy_stack: Stack, http: requests.Session
) -> None:
    kevin, mike, josh = signup("kevin"), signup("mike"), signup("josh")
    kevin.act(mike, "follow")
    kevin.act(josh, "follow")
    params = {"access_token": kevin.token, "count": 1}
    ca = str(healthy_stack.tls_ca)

    over_tls = http.get(
        f"{healthy_stack.api_tls}/v1/users/self/follows", params=params, verify=ca, timeout=10
    )
    next_tls = over_tls.json()["pagination"]["next_url"]
    assert next_tls.startswith(f"https://localhost:{healthy_stack.profile.nginx_tls}/v1/users/self/follows?")
    over_http = http.get(f"{healthy_stack.api}/v1/users/self/follows", params=params, timeout=10)
    assert over_http.json()["pagination"]["next_url"].startswith(
        f"http://localhost:{healthy_stack.profile.nginx}/v1/users/self/follows?"
    )
    # The client follows the link as it is, over HTTPS, to the second page.
    second = http.get(next_tls, verify=ca, timeout=10).json()["data"]
    first = over_tls.json()["data"]
    assert {user["username"] for user in first + second} == {mike.username, josh.username}


def test_the_cdn_serves_photos_over_https_and_http2(
    signup: Any, healthy_stack: Stack, http: requests.Session
) -> None:
    media = signup("cdntls").post_photo(jpeg())
    path = urlsplit(media["images"]["thumbnail"]["url"]).path
    response = http.get(f"{healthy_stack.cdn_tls}{path}", verify=str(healthy_stack.tls_ca), timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.content[:3] == b"\xff\xd8\xff"  # a JPEG
    assert curl_http_version(healthy_stack, f"{healthy_stack.cdn_tls}{path}") == "2 200"
