"""v1 endpoints of the mobile app's "Report" buttons: a photo, a comment, an account.

Only the mobile app's own tokens may report: a third-party app must not file
reports in its users' names (a flood of them would reach the operators'
queue under real accounts).
"""

from typing import Any

from django.conf import settings
from django.http import JsonResponse

from instagram.api import APIRequest, api_endpoint, params
from instagram.errors import OAuthPermissionsException, envelope
from reports.actions import check_report_comment, check_report_media, check_report_user
from reports.models import Report
from users.models import User


def _mobile_app_user(request: APIRequest) -> User:
    """Return the caller, if the token is the mobile app's; else raise OAuthPermissionsException."""
    if request.access_token.application.client_id != settings.MOBILE_CLIENT_ID:
        raise OAuthPermissionsException("Only the Instagram app files reports.")
    return request.api_user


def report_object(report: Report) -> dict[str, Any]:
    return {
        "id": str(report.id),
        "kind": report.kind,
        "target_id": report.target.partition(":")[2],
        "reason": report.reason,
        "text": report.text,
        "created_time": str(int(report.created_at.timestamp())),
    }


def _answer(report: Report, created: bool) -> JsonResponse:
    return envelope(report_object(report), status=201 if created else 200)


@api_endpoint(methods=("POST",))
def report_media(request: APIRequest, media_ref: str) -> JsonResponse:
    """POST reason=<one of the list> [text=]: report the photo (again: the first report, 200)."""
    user = _mobile_app_user(request)
    return _answer(*check_report_media(reporter=user, media_ref=media_ref, values=params(request)))


@api_endpoint(methods=("POST",))
def report_comment(request: APIRequest, media_ref: str, comment_ref: str) -> JsonResponse:
    """POST reason= [text=]: report the comment on this photo."""
    user = _mobile_app_user(request)
    return _answer(
        *check_report_comment(
            reporter=user, media_ref=media_ref, comment_ref=comment_ref, values=params(request)
        )
    )


@api_endpoint(methods=("POST",))
def report_user(request: APIRequest, user_ref: str) -> JsonResponse:
    """POST reason= [text=]: report the account."""
    user = _mobile_app_user(request)
    return _answer(*check_report_user(reporter=user, user_ref=user_ref, values=params(request)))
