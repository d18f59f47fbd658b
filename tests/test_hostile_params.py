"""Hostile input never reaches a 5xx: every described operation, through nginx, with values meant to break it.

The operations come from instagram/openapi.yaml, which test_openapi keeps
equal to the URL table, so a new endpoint is covered as soon as it is routed.
Each answer is an enveloped 4xx (naming what was wrong) or a normal 2xx.
"""

import json
import re
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import pytest
import requests

from instagram.openapi import openapi_spec
from tests.conftest import Stack
from tests.v1 import Account, sign_up

HOSTILE = {
    "4301 digits": "9" * 4301,  # past Python's int-string limit
    "arabic digits": "١٢٣",  # str.isdigit() says yes, int() reads 123
}
# Bounded: every operation x these values is a few hundred requests through nginx on a shared 2-core box.
# A name every list endpoint might read, whether or not the description names it.
COMMON = ("count", "max_id", "min_id", "cursor", "lat", "lng", "distance", "id")
NOT_ENVELOPED = {
    "/health",
    "/ping",
    "/v1/openapi.json",
    "/oauth/authorize",
    "/p/{code}/",
    "/p/{code}/media/",
    "/oembed",
    "/v1/docs",
    "/oauth/access_token",
}
# Logging out would spend the test's token; it reads no parameter.
SKIP = {("post", "/v1/accounts/logout")}


def _operations() -> list[tuple[str, str, list[str], list[str]]]:
    spec = openapi_spec()
    components = spec["components"]

    def resolve(item: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in item:
            *_, kind, name = item["$ref"].split("/")
            item = components[kind][name]
        return item

    found = []
    for template, path_item in spec["paths"].items():
        for method, operation in path_item.items():
            if method not in ("get", "post", "delete") or (method, template) in SKIP:
                continue
            listed = operation.get("parameters", []) + path_item.get("parameters", [])
            parameters = [resolve(p) for p in listed]
            names = {p["name"] for p in parameters if p.get("in") in ("query", None)}
            for content in operation.get("requestBody", {}).get("content", {}).values():
                names |= set(resolve(content.get("schema", {})).get("properties", {}))
            path_names = re.findall(r"\{(\w+)\}", template)
            found.append((method, template, path_names, sorted(names | set(COMMON))))
    return found


OPERATIONS = _operations()


@pytest.fixture(scope="module")
def caller(stack: Stack) -> Account:
    return sign_up(stack.api, requests.Session(), prefix="hostile")


def assert_handled(response: requests.Response, template: str, *, enveloped: bool = True) -> None:
    what = f"{response.request.method} {template} -> {response.status_code}: {response.text[:300]}"
    assert response.status_code < 500, what
    if template in NOT_ENVELOPED or response.status_code < 400 or not enveloped:
        return
    meta = response.json()["meta"]
    assert meta["code"] == response.status_code, what
    assert meta["error_type"], what
    assert meta["error_message"], what
    assert "Traceback" not in response.text, what


def _send(caller: Account, method: str, path: str, values: dict[str, str], *, as_json: bool = False) -> Any:
    url = f"{caller.base}{path}"
    query = {"access_token": caller.token}
    if method == "get" or method == "delete":
        # A value too long for the request line goes in the form body, which DELETE views also read.
        short = {k: v for k, v in values.items() if len(v) < 4000}
        return caller.http.request(method.upper(), url, params={**query, **short}, timeout=30)
    if as_json:
        return caller.http.post(url, params=query, json=values, timeout=30)
    return caller.http.post(url, params=query, data=values, timeout=30)


@pytest.mark.parametrize(("method", "template", "path_names", "names"), OPERATIONS, ids=lambda v: str(v))
def test_hostile_values_are_4xx_never_5xx(
    caller: Account, method: str, template: str, path_names: list[str], names: list[str]
) -> None:
    with requests.Session() as http:
        caller = replace(caller, http=http)
        for value in HOSTILE.values():
            # Every path segment hostile (the request line may get a 414 from nginx, in the envelope).
            if path_names:
                path = template
                for name in path_names:
                    path = path.replace("{" + name + "}", quote(value, safe=""))
                # nginx itself refuses a NUL in the path, with its own HTML 400 (a 4xx all the same).
                assert_handled(_send(caller, method, path, {}), template, enveloped="\x00" not in value)
            # Plausible path, every parameter hostile.
            path = re.sub(r"\{\w+\}", "self", template) if "users/{" in template else template
            path = re.sub(r"\{\w+\}", "0", path)
            response = _send(caller, method, path, dict.fromkeys(names, value))
            assert_handled(response, template)
            if method == "post" and template not in NOT_ENVELOPED:
                as_json = _send(caller, method, path, dict.fromkeys(names, value), as_json=True)
                assert_handled(as_json, template)
        if method == "post" and template not in NOT_ENVELOPED:
            deep = "[" * 100_000 + "]" * 100_000
            response = caller.http.post(
                f"{caller.base}{path}",
                params={"access_token": caller.token},
                data=deep,
                headers={"Content-Type": "application/json"},
                timeout=30,
            )
            assert_handled(response, template)
            nested = json.dumps({names[0]: 1}).replace("1", "[" * 50_000 + "]" * 50_000)
            assert_handled(
                caller.http.post(
                    f"{caller.base}{path}",
                    params={"access_token": caller.token},
                    data=nested,
                    headers={"Content-Type": "application/json"},
                    timeout=30,
                ),
                template,
            )


def test_an_oversized_count_is_named(caller: Account) -> None:
    response = caller.get("users/self/feed", count="9" * 4301)
    assert response.status_code == 400
    assert "count" in response.json()["meta"]["error_message"]
    response = caller.get(f"locations/{'9' * 4301}")
    assert response.status_code in (400, 404)
    assert response.json()["meta"]["error_type"]
