"""v1 endpoints of linked accounts: list, link (or link again), unlink; the mobile app's tokens only."""

from django.http import JsonResponse

from instagram.api import APIRequest, api_endpoint, params
from instagram.errors import envelope
from sharing.actions import check_link_account, do_unlink_account, service_param
from sharing.selectors import linked_account_object, linked_accounts
from users.models import User


def _viewer(request: APIRequest) -> User:
    return request.api_user


@api_endpoint(methods=("GET",), first_party=True)
def linked_account_list(request: APIRequest) -> JsonResponse:
    """The caller's linked Twitter and Facebook accounts (never their tokens)."""
    return envelope([linked_account_object(a) for a in linked_accounts(user_id=_viewer(request).id)])


@api_endpoint(methods=("POST", "DELETE"), first_party=True)
def linked_account(request: APIRequest, service: str) -> JsonResponse:
    """POST: link the account on `service` (again: replace it). DELETE: unlink it."""
    if request.method == "DELETE":
        do_unlink_account(user=_viewer(request), service=service_param(service))
        return envelope(None)
    account = check_link_account(user=_viewer(request), service=service, values=params(request))
    return envelope(linked_account_object(account))
