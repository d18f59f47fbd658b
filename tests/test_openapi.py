"""The OpenAPI description (instagram/openapi.yaml) against the routes and the running API.

It cannot drift either way: every public route is described with exactly the
methods its view allows, and every described path is a route. It is valid
OpenAPI and served as JSON. Calls that succeed answer what it says, and a
bounded schemathesis fuzz through nginx finds no 5xx, no answer outside the
v1 envelope and none its schemas reject.
"""

import json
import os
import re
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import hypothesis
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

from deploy.localstack.base import ROOT
from instagram.errors import APIError
from instagram.openapi import SPEC_PATH, openapi_spec
from oauth.actions import check_register_client
from tests.conftest import Stack, wait_for
from tests.photos.images import jpeg
from tests.v1 import Account, sign_up

# Routes that are not part of the described surface: Django's admin, the
# OAuth log-in/log-out pages (Django's own views; the HTML authorize page is
# described), the permalink without its slash (a RedirectView to /p/{code}/
# for every method; the page itself is described), /oembed/ (the same view as
# /oembed, for consumers that add the slash), and /metrics (Prometheus's
# text format for operators' scrapers, refused to other addresses), and the
# trailing-slash forms v1's documentation printed (the same views as
# /oauth/authorize, /oauth/access_token and /v1/subscriptions).
UNDESCRIBED_PREFIXES = ("/admin/",)
UNDESCRIBED_ROUTES = {
    "/oauth/login",
    "/oauth/logout",
    "/p/{code}",
    "/oembed/",
    "/metrics",
    "/oauth/authorize/",
    "/oauth/access_token/",
    "/v1/subscriptions/",
    "/oauth/authorized_apps",  # the HTML page of /v1/users/self/authorized_apps
}

HTTP_METHODS = ("get", "head", "post", "put", "patch", "delete", "options")
# Answers that are not the v1 envelope: the health report, this description, the HTML pages.
NOT_ENVELOPED = {
    "/health",
    "/v1/openapi.json",
    "/v1/docs",
    "/oauth/authorize",
    "/p/{code}/",
    "/p/{code}/media/",
    "/oembed",
}
FLAT_ERRORS = {"/oauth/access_token"}
PASSWORD = "kodachrome-64"  # tests.v1.sign_up's


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

    nginx = (ROOT / "deploy/nginx/nginx.conf").read_text()
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


def v1_envelope(ctx: Any, response: schemathesis.Response, case: schemathesis.Case[Any]) -> bool | None:
    """Check the answer is JSON in the v1 envelope, `meta.code` the HTTP status, errors typed and worded."""
    if case.path in NOT_ENVELOPED or response.request.method == "HEAD":
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

    def call(self, method: str, path: str, *, status: int = 200, **request: Any) -> Any:
        """Call `method path`; assert its status, that it conforms and is enveloped; return its JSON."""
        case = self.schema[path][method].Case(**request)
        response = case.call(base_url=self.base, timeout=15)
        assert response.status_code == status, response.text
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
    signed_up = api.call(
        "POST", "/v1/accounts/signup", body={"username": name, "password": PASSWORD}, media_type=JSON
    )
    token = signed_up["data"]["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    api.call("POST", "/v1/accounts/login", body={"username": name, "password": PASSWORD}, media_type=FORM)

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
        "POST", "/oauth/access_token", body={**grant, "username": name, "password": PASSWORD}, media_type=FORM
    )
    api.call("GET", "/ping")
    api.call("GET", "/health")
    api.call("GET", "/v1/openapi.json")
    api.call("POST", "/v1/accounts/logout", headers=bearer)


MULTIPART = "multipart/form-data"


def test_photo_answers_conform(
    described: OpenApiSchema, healthy_stack: Stack, http: requests.Session
) -> None:
    """The media, likes, comments, tags and locations success shapes, on real photos."""
    api = Conforming(described, healthy_stack.api)
    owner, fan = sign_up(healthy_stack.api, http, prefix="oa"), sign_up(healthy_stack.api, http, prefix="oa")
    mine, theirs = {"Authorization": f"Bearer {owner.token}"}, {"Authorization": f"Bearer {fan.token}"}
    tag, place = f"oa{uuid.uuid4().hex[:12]}", (37.8080, -122.4177)
    venue = secrets.token_hex(12)
    upload = {
        "body": {
            "photo": jpeg(300, 200),
            "caption": f"Pier at dusk #{tag} @{fan.username}",
            "filter": "X-Pro II",
            "lat": place[0],
            "lng": place[1],
            "location_name": f"Pier {tag}",
            "foursquare_v2_id": venue,
            "users_in_photo": json.dumps([{"user_id": fan.id, "x": 0.25, "y": 0.75}]),
        },
        "media_type": MULTIPART,
        "headers": {**mine, "Idempotency-Key": uuid.uuid4().hex},
    }
    media = api.call("POST", "/v1/media/upload", status=201, **upload)["data"]
    assert api.call("POST", "/v1/media/upload", status=200, **upload)["data"]["id"] == media["id"]
    bare = api.call(
        "POST",
        "/v1/media/upload",
        status=201,
        body={"photo": jpeg(200, 200), "caption": f"#{tag}", "upload_id": uuid.uuid4().hex},
        media_type=MULTIPART,
        headers=mine,
    )["data"]
    assert (bare["caption"]["text"], bare["location"]) == (f"#{tag}", None)
    location_id = media["location"]["id"]
    ref = {"media_ref": media["id"]}

    api.call("GET", "/v1/media/{media_ref}", path_parameters=ref, headers=theirs)
    api.call(
        "GET",
        "/v1/media/{media_ref}",
        path_parameters={"media_ref": bare["id"].partition("_")[0]},
        headers=theirs,
    )
    code = media["link"].rstrip("/").rpartition("/")[2]
    api.call("GET", "/v1/media/shortcode/{code}", path_parameters={"code": code}, headers=theirs)
    for liked in (media, bare):
        api.call(
            "POST", "/v1/media/{media_ref}/likes", path_parameters={"media_ref": liked["id"]}, headers=theirs
        )
    likers = api.call("GET", "/v1/media/{media_ref}/likes", path_parameters=ref, headers=mine)["data"]
    assert [liker["id"] for liker in likers] == [fan.id]
    page = api.call("GET", "/v1/users/self/media/liked", query={"count": 1}, headers=theirs)
    assert set(page["pagination"]) == {"next_url", "next_max_like_id"}
    comment = api.call(
        "POST",
        "/v1/media/{media_ref}/comments",
        path_parameters=ref,
        body={"text": f"so #{tag} @{owner.username}"},
        media_type=FORM,
        headers=theirs,
    )["data"]
    api.call(
        "POST",
        "/v1/media/{media_ref}/comments",
        path_parameters=ref,
        body={"text": "again"},
        media_type=JSON,
        headers=theirs,
    )
    api.call("GET", "/v1/media/{media_ref}/comments", path_parameters=ref, headers=mine)
    shown = api.call("GET", "/v1/media/{media_ref}", path_parameters=ref, headers=theirs)["data"]
    # The caption is the owner's first comment (v1), then the two.
    assert (shown["likes"]["count"], shown["comments"]["count"], shown["user_has_liked"]) == (1, 3, True)
    assert [person["user"]["id"] for person in shown["users_in_photo"]] == [fan.id]
    api.call(
        "DELETE",
        "/v1/media/{media_ref}/comments/{comment_ref}",
        path_parameters={**ref, "comment_ref": comment["id"]},
        headers=mine,
    )

    page = api.call(
        "GET",
        "/v1/users/{user_ref}/media/recent",
        path_parameters={"user_ref": owner.id},
        query={"count": 1},
        headers=theirs,
    )
    assert page["pagination"]["next_max_id"] == bare["id"].partition("_")[0]
    api.call(
        "GET",
        "/v1/users/{user_ref}/media/recent",
        path_parameters={"user_ref": "self"},
        query={"max_id": bare["id"], "min_timestamp": 0},
        headers=mine,
    )
    tagged = api.call("GET", "/v1/tags/{name}", path_parameters={"name": tag.upper()}, headers=theirs)
    assert tagged["data"] == {"name": tag, "media_count": 2}
    page = api.call(
        "GET",
        "/v1/tags/{name}/media/recent",
        path_parameters={"name": tag},
        query={"count": 1},
        headers=theirs,
    )
    assert set(page["pagination"]) == {
        "next_url",
        "next_max_tag_id",
        "next_max_id",
        "min_tag_id",
        "next_min_id",
        "deprecation_warning",
    }
    found = api.call("GET", "/v1/tags/search", query={"q": f"#{tag[:-1]}"}, headers=theirs)["data"]
    assert [t["name"] for t in found] == [tag]
    api.call(
        "GET", "/v1/locations/{location_ref}", path_parameters={"location_ref": location_id}, headers=theirs
    )
    api.call(
        "GET",
        "/v1/locations/{location_ref}/media/recent",
        path_parameters={"location_ref": location_id},
        query={"count": 1},
        headers=theirs,
    )
    api.call(
        "GET",
        "/v1/locations/{location_ref}/media/recent",
        path_parameters={"location_ref": location_id},
        query={"min_timestamp": int(media["created_time"]), "max_timestamp": int(media["created_time"])},
        headers=theirs,
    )
    by_venue = api.call("GET", "/v1/locations/search", query={"foursquare_v2_id": venue}, headers=theirs)
    assert [p["id"] for p in by_venue["data"]] == [location_id]
    near = {"lat": place[0], "lng": place[1], "distance": 50}
    places = api.call("GET", "/v1/locations/search", query=near, headers=theirs)["data"]
    assert location_id in [p["id"] for p in places]
    nearby = api.call("GET", "/v1/media/search", query=near, headers=theirs)["data"]
    assert media["id"] in [m["id"] for m in nearby]
    api.call("GET", "/v1/media/popular", query={"count": 5}, headers=theirs)
    permalink = http.get(f"{healthy_stack.api}/p/{code}/", timeout=10)
    assert (permalink.status_code, permalink.headers["Content-Type"]) == (200, "text/html; charset=utf-8")

    api.call("DELETE", "/v1/media/{media_ref}/likes", path_parameters=ref, headers=theirs)
    for posted in (media, bare):
        api.call("DELETE", "/v1/media/{media_ref}", path_parameters={"media_ref": posted["id"]}, headers=mine)


def error_type(body: dict[str, Any]) -> str:
    return str(body["meta"]["error_type"] if "meta" in body else body["error_type"])


def test_malformed_requests_are_refused_as_described(
    described: OpenApiSchema, healthy_stack: Stack, http: requests.Session
) -> None:
    """What the fuzz found: each was a 500, a wrong answer, or a 405 without its Allow header."""
    api = Conforming(described, healthy_stack.api)
    account = sign_up(healthy_stack.api, http, prefix="oa")
    bearer = {"Authorization": f"Bearer {account.token}"}
    invalid = "APIInvalidParametersError"
    no_boundary = {"Content-Type": "multipart/form-data", **bearer}

    # "²".isdigit() is true and int("²") fails; "٣" was read as user 3.
    for digit in ("²", "٣"):
        found = api.call(
            "GET", "/v1/users/{user_ref}", status=404, path_parameters={"user_ref": digit}, headers=bearer
        )
        assert error_type(found) == "APINotFoundError"
        page = api.call(
            "GET",
            "/v1/users/{user_ref}/follows",
            status=400,
            path_parameters={"user_ref": "self"},
            query={"cursor": digit},
            headers=bearer,
        )
        assert error_type(page) == invalid
    # PostgreSQL text cannot hold a NUL.
    nul = "a\x00b"
    searched = api.call("GET", "/v1/users/search", status=400, query={"q": nul}, headers=bearer)
    assert error_type(searched) == invalid
    logged_in = api.call(
        "POST", "/v1/accounts/login", status=400, body={"username": nul, "password": "x"}, media_type=JSON
    )
    assert error_type(logged_in) == invalid
    grant = {
        "client_id": nul,
        "client_secret": "x",
        "grant_type": "password",
        "username": "u",
        "password": "p",
    }
    token = api.call("POST", "/oauth/access_token", status=400, body=grant, media_type=FORM)
    assert error_type(token) == "OAuthException"
    authorize = http.get(
        f"{healthy_stack.api}/oauth/authorize",
        params={"client_id": nul, "response_type": "code", "redirect_uri": "https://x.example.com/"},
        timeout=10,
    )
    assert authorize.status_code == 400
    # A JSON array is not a password.
    signed_up = api.call(
        "POST",
        "/v1/accounts/signup",
        status=400,
        body={"username": f"oa_{uuid.uuid4().hex[:12]}", "password": [PASSWORD]},
        media_type=JSON,
    )
    assert error_type(signed_up) == invalid
    # A multipart body without a boundary cannot be read: a 400, flat on /oauth/access_token.
    for path in (f"/v1/users/{account.id}/relationship", "/oauth/access_token"):
        unread = http.post(
            f"{healthy_stack.api}{path}", data="action=follow", headers=no_boundary, timeout=10
        )
        assert (unread.status_code, error_type(unread.json())) == (400, invalid)
    # 405s name the allowed methods.
    for path, allow in (("/v1/users/self", "GET, HEAD"), ("/oauth/access_token", "POST")):
        refused = http.delete(f"{healthy_stack.api}{path}", headers=bearer, timeout=10)
        assert (refused.status_code, refused.headers.get("Allow")) == (405, allow)
        assert error_type(refused.json()) == "APIMethodNotAllowedError"


FUZZ_EXAMPLES = 40


def log_in(account: Account) -> str:
    """Return a new token for `account`."""
    response = account.http.post(
        f"{account.base}/v1/accounts/login",
        data={"username": account.username, "password": PASSWORD},
        timeout=15,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["data"]["access_token"]
    return token


# The fuzz: every described operation, through nginx, with a real token. The
# description is read from the file (the served copy is the same, see above):
# schemathesis's fixture-loaded schemas do not run under pytest 9.
fuzzed = (
    schemathesis.openapi.from_path(
        SPEC_PATH,
        config=schemathesis.Config.from_dict(
            # Tokens are sent by the test, not generated from the security schemes.
            {"generation": {"max-examples": FUZZ_EXAMPLES, "with-security-parameters": False}}
        ),
    )
    .exclude(method="POST", path="/oauth/authorize")
    .exclude(method="TRACE")
)


@pytest.fixture(scope="module")
def fuzzer(stack: Stack) -> Iterator[Account]:
    """One account for every fuzzed operation, once the stack is healthy.

    Not healthy_stack and a sign-up per operation: its ten /health calls and
    the password hash cost half a second each time, as long as the fuzz of
    all the operations' calls together.
    """
    with requests.Session() as session:

        def all_green() -> bool:
            return all(session.get(f"{stack.api}/health", timeout=10).status_code == 200 for _ in range(10))

        wait_for(all_green, timeout=60, interval=0.5)
        yield sign_up(stack.api, session, prefix="fuzz")


@pytest.fixture(scope="module")
def fuzz_photo(fuzzer: Account) -> Iterator[str]:
    """The fuzzer's one photo (its v1 id), deleted at the end: half the cases that name a media name it."""
    media = fuzzer.post_photo(jpeg(200, 200), caption="#fuzz @nobody", lat="37.808", lng="-122.4177")
    yield str(media["id"])
    deleted = fuzzer.delete(f"media/{media['id']}")
    assert deleted.status_code == 200, deleted.text


def own_photo(case: schemathesis.Case[Any]) -> bool:
    """Whether `case` should name the fuzzer's photo instead of its media_ref.

    Random ids name no media (a 404 before any like, comment or page of it
    is read), so half the valid ones (by parity) are replaced by a real
    photo; the invalid ones are kept, as is DELETE /v1/media/{media_ref},
    which would delete it for the other operations.
    """
    ref = (case.path_parameters or {}).get("media_ref")
    if not isinstance(ref, str) or not re.fullmatch(r"[0-9]+(_[0-9]+)?", ref):
        return False
    if (case.method, case.path) == ("DELETE", "/v1/media/{media_ref}"):
        return False
    return int(ref.partition("_")[0]) % 2 == 0


@fuzzed.parametrize()
@hypothesis.settings(
    deadline=None,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    # The same cases on every run, so `make test` passes or fails for the
    # code, not for the draw; IG_FUZZ_EXPLORE=1 draws new ones (to hunt,
    # then keep what it finds as a regular test).
    derandomize=os.environ.get("IG_FUZZ_EXPLORE") != "1",
)
def test_fuzz(case: schemathesis.Case[Any], fuzzer: Account, fuzz_photo: str, http: requests.Session) -> None:
    token = fuzzer.token
    if own_photo(case):
        case.path_parameters = {**(case.path_parameters or {}), "media_ref": fuzz_photo}
    if case.path == "/v1/accounts/logout":
        # Log out a token of its own, so the fuzzer's stays valid for the other operations.
        token = log_in(fuzzer)
    checks = CHECKS
    if case.path == "/oauth/authorize":
        # Django's CSRF check answers other unsafe methods before the 405 (403, HTML).
        checks = [check for check in CHECKS if check is not unsupported_method]
    if case.path == "/health":
        # Its 503 is its answer when a component is down (another test may be restarting one).
        checks = [check for check in CHECKS if check is not not_a_server_error]
    case.call_and_validate(
        base_url=fuzzer.base,
        session=http,
        headers={"Authorization": f"Bearer {token}"},
        timeout=15,
        checks=checks,
        additional_checks=[v1_envelope],
    )


def test_report_answers_conform(
    described: OpenApiSchema, healthy_stack: Stack, http: requests.Session
) -> None:
    """A report filed (201) and filed again (200), of a photo, a comment and an account."""
    api = Conforming(described, healthy_stack.api)
    owner, reporter = (
        sign_up(healthy_stack.api, http, prefix="oa"),
        sign_up(healthy_stack.api, http, prefix="oa"),
    )
    media = owner.post_photo(jpeg(200, 200))
    comment = owner.post(f"media/{media['id']}/comments", text="first").json()["data"]
    bearer = {"Authorization": f"Bearer {reporter.token}"}
    ref = {"media_ref": media["id"]}
    for status in (201, 200):
        api.call(
            "POST",
            "/v1/media/{media_ref}/report",
            status=status,
            path_parameters=ref,
            body={"reason": "spam", "text": "Velvet"},
            media_type=FORM,
            headers=bearer,
        )
    api.call(
        "POST",
        "/v1/media/{media_ref}/comments/{comment_ref}/report",
        status=201,
        path_parameters={**ref, "comment_ref": comment["id"]},
        body={"reason": "harassment"},
        media_type=JSON,
        headers=bearer,
    )
    api.call(
        "POST",
        "/v1/users/{user_ref}/report",
        status=201,
        path_parameters={"user_ref": owner.id},
        body={"reason": "impersonation"},
        media_type=FORM,
        headers=bearer,
    )
