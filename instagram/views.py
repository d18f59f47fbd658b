"""Operational endpoints: the health report and a trivial JSON view for benchmarks."""

from django.conf import settings
from django.http import HttpRequest, JsonResponse

from instagram.errors import allow_methods, envelope, error_envelope
from instagram.health import check_all


@allow_methods("GET")
def health(request: HttpRequest) -> JsonResponse:
    report = check_all()
    return with_release(JsonResponse(report, status=200 if report["status"] == "up" else 503))


@allow_methods("GET")
def ping(request: HttpRequest) -> JsonResponse:
    """Answer with a constant envelope: the baseline every benchmark is a ratio to."""
    return with_release(envelope({"pong": True}))


def with_release(response: JsonResponse) -> JsonResponse:
    """Name the release that answered, so a deploy (and its operator) can see it arrive."""
    response["X-Release"] = settings.RELEASE
    return response


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
