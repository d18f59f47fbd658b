"""The OpenAPI description (instagram/openapi.yaml) against the routes and the running API.

It cannot drift either way: every public route is described with exactly the
methods its view allows, and every described path is a route. It is valid
OpenAPI and served as JSON. Calls that succeed answer what it says, and a
bounded schemathesis fuzz through nginx finds no 5xx, no answer outside the
v1 envelope and none its schemas reject.
"""

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from deploy import stack as stack_script
from instagram.errors import APIError
from instagram.openapi import openapi_spec
from oauth.actions import check_register_client
from tests.conftest import Stack
from tests.v1 import sign_up

# Routes that are not part of the described surface: Django's admin, and the
# OAuth log-in/log-out pages (Django's own views; the HTML authorize page is described).
UNDESCRIBED_PREFIXES = ("/admin/",)
UNDESCRIBED_ROUTES = {"/oauth/login", "/oauth/logout"}

HTTP_METHODS = ("get", "head", "post", "put", "patch", "delete", "options")
# Answers that are not the v1 envelope: the health report, this description, the HTML authorize page.
NOT_ENVELOPED = {"/health", "/v1/openapi.json", "/oauth/authorize"}
FLAT_ERRORS = {"/oauth/access_token"}


def _template(route: str) -> str:
    """Return Django's route `users/<str:user_ref>` as the OpenAPI path `/users/{user_ref}`."""
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def _routes(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        else:
            yield _template(route)


def public_routes() -> set[str]:
    """Return every route of the URLconf clients may call, as OpenAPI path templates."""
    routes = set(_routes(get_resolver().url_patterns))
    return {
        route
        for route in routes
        if route not in UNDESCRIBED_ROUTES and not route.startswith(UNDESCRIBED_PREFIXES)
    }


def concrete(template: str) -> str:
    """Return a path that matches `template`, every parameter filled in."""
    return re.sub(r"\{\w+\}", "0", template)


def allowed_methods(path: str) -> set[str]:
    """Return the methods the view at `path` does not refuse with a 405 (no token, no body: no effect)."""
    client = Client(raise_request_exception=False)
    return {method for method in HTTP_METHODS if client.generic(method.upper(), path).status_code != 405}


# The one path whose GET does not admit HEAD: an HTML page behind Django's require_http_methods.
NO_HEAD = {"/oauth/authorize"}


def described_methods(template: str, path_item: dict[str, Any]) -> set[str]:
    """Return the methods the description lists for a path, and HEAD wherever GET goes with it."""
    methods = {method for method in path_item if method in HTTP_METHODS}
    return methods | ({"head"} if "get" in methods and template not in NO_HEAD else set())


def test_every_public_route_is_described_and_every_described_path_is_a_route() -> None:
    described = set(openapi_spec()["paths"])
    routes = public_routes()
    assert routes - described == set(), "routes missing from instagram/openapi.yaml"
    assert described - routes == set(), "paths in instagram/openapi.yaml that no route serves"
    for template in described:
        # A described path is served by its own route, not shadowed by another one.
        assert _template(resolve(concrete(template)).route) == template


def test_each_path_lists_exactly_the_methods_its_view_allows() -> None:
    for template, path_item in openapi_spec()["paths"].items():
        assert described_methods(template, path_item) == allowed_methods(concrete(template)), template


def test_the_description_is_valid_openapi() -> None:
    validate(openapi_spec())


def test_error_types_and_scopes_are_the_ones_the_code_has() -> None:
    """Every APIError's type (and nginx's) is in the ErrorType enum, and nothing else is."""
    get_resolver().url_patterns  # noqa: B018 (imports every view, and with them every error class)

    def subclasses(cls: type[APIError]) -> Iterator[type[APIError]]:
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    nginx = (stack_script.ROOT / "deploy/nginx/nginx.conf").read_text()
    raised = {APIError.error_type} | {cls.error_type for cls in subclasses(APIError)}
    raised |= set(re.findall(r'"error_type": "(\w+)"', nginx))
    components = openapi_spec()["components"]
    assert set(components["schemas"]["ErrorType"]["enum"]) == raised
    for flow in components["securitySchemes"]["oauth2"]["flows"].values():
        assert flow["scopes"] == settings.API_SCOPES


def test_the_description_is_served_as_json(healthy_stack: Stack, http: requests.Session) -> None:
    response = http.get(f"{healthy_stack.api}/v1/openapi.json", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    served = response.json()
    assert served["servers"] == [{"url": settings.PUBLIC_BASE_URL.rstrip("/")}]
    assert {**served, "servers": None} == {**openapi_spec(), "servers": None}


# The fuzz's checks. Left out: positive_data_acceptance (valid input still meets
# a missing user or a taken username) and ignored_auth (v1 refuses a missing
# token with a 400, not the 401 it expects).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    unsupported_method,
]


def v1_envelope(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    """Check the answer is JSON in the v1 envelope, `meta.code` the HTTP status, errors typed and worded."""
    if case.path in NOT_ENVELOPED:
        return None
    body = response.json()
    status = response.status_code
    if case.path in FLAT_ERRORS:
        if status >= 400:
            assert set(body) == {"code", "error_type", "error_message"}, body
            assert body["code"] == status, body
        return True
    assert body["meta"]["code"] == status, body
    if status >= 400:
        assert set(body) == {"meta"}, body
        assert body["meta"]["error_type"], body
        assert body["meta"]["error_message"], body
        assert "Traceback" not in body["meta"]["error_message"], body
    return True


@pytest.fixture
def described(healthy_stack: Stack) -> OpenApiSchema:
    """The description as the stack serves it, for schemathesis."""
    return schemathesis.openapi.from_url(f"{healthy_stack.api}/v1/openapi.json", timeout=10)


class Conforming:
    """Calls through nginx that must succeed, each answer checked against the description."""

    def __init__(self, schema: OpenApiSchema, base: str) -> None:
        self.schema = schema
        self.base = base

    def call(self, method: str, path: str, **request: Any) -> Any:
        """Call `method path`; assert a 200 that conforms and is enveloped; return its JSON."""
        case = self.schema[path][method].Case(**request)
        response = case.call(base_url=self.base, timeout=15)
        assert response.status_code == 200, response.text
        case.validate_response(response, checks=CHECKS, additional_checks=[v1_envelope])
        return response.json()


FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def test_successful_answers_conform(
    described: OpenApiSchema, healthy_stack: Stack, http: requests.Session
) -> None:
    """The success shapes, which random input rarely reaches: tokens, users, relationships, pages."""
    api = Conforming(described, healthy_stack.api)
    name = f"oa_{uuid.uuid4().hex[:12]}"
    password = "kodachrome-64"
    signed_up = api.call(
        "POST", "/v1/accounts/signup", body={"username": name, "password": password}, media_type=JSON
    )
    token = signed_up["data"]["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    api.call("POST", "/v1/accounts/login", body={"username": name, "password": password}, media_type=FORM)

    other, third = (
        sign_up(healthy_stack.api, http, prefix="oa"),
        sign_up(healthy_stack.api, http, prefix="oa"),
    )
    api.call("GET", "/v1/users/{user_ref}", path_parameters={"user_ref": other.id}, headers=bearer)
    api.call("GET", "/v1/users/search", query={"q": other.username, "count": 5}, headers=bearer)
    for target, media_type in ((other, FORM), (third, JSON)):
        api.call(
            "POST",
            "/v1/users/{user_ref}/relationship",
            path_parameters={"user_ref": target.id},
            body={"action": "follow"},
            media_type=media_type,
            query={"access_token": token},
        )
    api.call(
        "GET", "/v1/users/{user_ref}/relationship", path_parameters={"user_ref": other.id}, headers=bearer
    )
    page = api.call(
        "GET",
        "/v1/users/{user_ref}/follows",
        path_parameters={"user_ref": "self"},
        query={"count": 1},
        headers=bearer,
    )
    assert set(page["pagination"]) == {"next_url", "next_cursor"}
    api.call(
        "GET", "/v1/users/{user_ref}/followed-by", path_parameters={"user_ref": other.id}, headers=bearer
    )
    api.call("GET", "/v1/users/self/requested-by", headers=bearer)
    api.call(
        "POST", "/v1/accounts/edit", body={"is_private": True, "bio": "film"}, media_type=JSON, headers=bearer
    )

    app, secret = check_register_client(
        name="Filters", redirect_uri="https://filters.example.com/cb", trusted=True
    )
    grant = {"client_id": app.client_id, "client_secret": secret, "grant_type": "password"}
    api.call(
        "POST", "/oauth/access_token", body={**grant, "username": name, "password": password}, media_type=FORM
    )
    api.call("GET", "/ping")
    api.call("GET", "/health")
    api.call("GET", "/v1/openapi.json")
    api.call("POST", "/v1/accounts/logout", headers=bearer)
