"""GET /v1/openapi.json: the v1 API's OpenAPI description, instagram/openapi.yaml, as JSON.

The YAML file is the one source (tests/test_openapi.py keeps it true to the
routes and to the running API); this view only parses and serves it.
"""

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.http import HttpRequest, JsonResponse

from instagram.errors import allow_methods

SPEC_PATH = Path(__file__).with_name("openapi.yaml")


# Once per process: the file changes only with a deploy, which restarts the app servers.
@cache
def openapi_spec() -> dict[str, Any]:
    """Return the description as the repository has it."""
    with SPEC_PATH.open(encoding="utf-8") as file:
        spec: dict[str, Any] = yaml.safe_load(file)
    return spec


@allow_methods("GET")
def openapi_json(request: HttpRequest) -> JsonResponse:
    """Serve the description, its servers naming this deployment's public base URL."""
    return JsonResponse({**openapi_spec(), "servers": [{"url": settings.PUBLIC_BASE_URL.rstrip("/")}]})
