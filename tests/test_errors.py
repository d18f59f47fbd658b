"""Every error reaches the client as a v1 envelope; no stack trace ever does."""

import pytest
import requests
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path

from instagram.errors import APIError
from tests.conftest import Stack


def crash(request: HttpRequest) -> HttpResponse:
    raise ZeroDivisionError("secret internals")


def refuse(request: HttpRequest) -> HttpResponse:
    raise APIError("count must be a number", error_type="APIInvalidParametersError")


urlpatterns = [path("crash", crash), path("refuse", refuse)]


@pytest.mark.urls("tests.test_errors")
def test_unhandled_exception_is_an_enveloped_500_without_traceback() -> None:
    response = Client(raise_request_exception=False).get("/crash")
    assert response.status_code == 500
    body = response.json()
    assert body["meta"]["code"] == 500
    assert body["meta"]["error_type"] == "APIError"
    assert "secret internals" not in response.content.decode()
    assert "Traceback" not in response.content.decode()


@pytest.mark.urls("tests.test_errors")
def test_api_error_is_rendered_with_its_type_and_status() -> None:
    response = Client().get("/refuse")
    assert response.status_code == 400
    assert response.json() == {
        "meta": {
            "code": 400,
            "error_type": "APIInvalidParametersError",
            "error_message": "count must be a number",
        }
    }


def test_unknown_path_and_wrong_method_are_enveloped_through_nginx(
    healthy_stack: Stack, http: requests.Session
) -> None:
    missing = http.get(f"{healthy_stack.api}/v1/nothing/here", timeout=5)
    assert missing.status_code == 404
    assert missing.json()["meta"]["error_type"] == "APINotFoundError"
    wrong = http.delete(f"{healthy_stack.api}/ping", timeout=5)
    assert wrong.status_code == 405
    assert wrong.json()["meta"] == {
        "code": 405,
        "error_type": "APIMethodNotAllowedError",
        "error_message": "DELETE is not allowed here; use GET.",
    }


def test_disallowed_host_is_an_enveloped_400(healthy_stack: Stack, http: requests.Session) -> None:
    response = http.get(f"{healthy_stack.api}/ping", headers={"Host": "evil.example"}, timeout=5)
    assert response.status_code == 400
    assert response.json()["meta"]["code"] == 400


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "application/json"])
def test_oversized_body_is_an_enveloped_413_and_writes_nothing(
    healthy_stack: Stack, http: requests.Session, content_type: str
) -> None:
    from django.conf import settings

    from users.models import User

    name = f"big_{content_type[12:16]}_{healthy_stack.profile.nginx}"
    padding = "a" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    if content_type == "application/json":
        body = f'{{"username": "{name}", "password": "kodachrome-64", "bio": "{padding}"}}'
    else:
        body = f"username={name}&password=kodachrome-64&bio={padding}"
    response = http.post(
        f"{healthy_stack.api}/v1/accounts/signup",
        data=body,
        headers={"Content-Type": content_type},
        timeout=15,
    )
    assert response.status_code == 413
    assert response.json()["meta"]["error_type"] == "APIInvalidParametersError"
    assert "too large" in response.json()["meta"]["error_message"]
    assert not User.objects.filter(username=name).exists()


def test_body_over_nginx_limit_is_enveloped_too(healthy_stack: Stack, http: requests.Session) -> None:
    body = b"x" * (16 * 1024 * 1024 + 1)
    response = http.post(f"{healthy_stack.api}/v1/accounts/signup", data=body, timeout=30)
    assert response.status_code == 413
    assert response.json()["meta"] == {
        "code": 413,
        "error_type": "APIInvalidParametersError",
        "error_message": "The request body is too large: at most 16 MB.",
    }
