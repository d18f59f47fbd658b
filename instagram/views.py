"""Operational endpoints: the health report and a trivial JSON view for benchmarks."""

import time

from django.conf import settings
from django.http import HttpRequest, JsonResponse

from instagram.addresses import from_allowed_network
from instagram.errors import allow_methods, envelope, error_envelope
from instagram.health import check_all

PUBLIC_ANSWER_SECONDS = 1.0


class _PublicAnswer:
    """The last up/down answer given to the public, and when: a flood of
    /health from outside runs the checks at most once a second per process."""

    checked_at = 0.0
    up = False


@allow_methods("GET")
def health(request: HttpRequest) -> JsonResponse:
    """Answer up/down to everyone, and the per-component report to HEALTH_ALLOWED_IPS.

    The report names internal components and how they fail, which is for
    operators and their monitors, not for the world.
    """
    if from_allowed_network(request, settings.HEALTH_ALLOWED_IPS):
        report = {"version": settings.VERSION, "release": settings.RELEASE, **check_all()}
        return with_release(JsonResponse(report, status=200 if report["status"] == "up" else 503))
    return with_release(public_health())


def public_health() -> JsonResponse:
    if time.monotonic() - _PublicAnswer.checked_at > PUBLIC_ANSWER_SECONDS:
        _PublicAnswer.up = check_all()["status"] == "up"
        _PublicAnswer.checked_at = time.monotonic()
    if _PublicAnswer.up:
        return envelope({"status": "ok"})
    return error_envelope(
        status=503, error_type="APIUnavailableError", message="The service is degraded; retry shortly."
    )


@allow_methods("GET")
def ping(request: HttpRequest) -> JsonResponse:
    """Answer with a constant envelope: the baseline every benchmark is a ratio to."""
    return with_release(envelope({"pong": True}))


def with_release(response: JsonResponse) -> JsonResponse:
    """Name the release that answered, so a deploy (and its operator) can see it arrive.

    `X-Release: 0.1.0+<revision>`: the version (pyproject.toml, the CHANGELOG's)
    and, as SemVer build metadata, the deployed revision fab waits for.
    """
    response["X-Release"] = release_header()
    return response


def release_header() -> str:
    return f"{settings.VERSION}+{settings.RELEASE}"


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_envelope(status=400, error_type="APIInvalidParametersError", message="Bad request.")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_envelope(status=403, error_type="APINotAllowedError", message="Not allowed.")


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_envelope(
        status=404, error_type="APINotFoundError", message=f"No endpoint at {request.path}."
    )


def server_error(request: HttpRequest) -> JsonResponse:
    return error_envelope(status=500, error_type="APIError", message="Internal server error.")
