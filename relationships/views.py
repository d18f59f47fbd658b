"""v1 relationship endpoints: follows, followed-by, requested-by, relationship."""

from django.http import JsonResponse

from instagram.api import APIRequest, api_endpoint, next_url, params, require_scope
from instagram.errors import envelope
from instagram.parameters import count_param, id_param
from relationships.actions import check_change_relationship
from relationships.models import Kind
from relationships.selectors import edge_page
from relationships.transitions import State, incoming_status, outgoing_status
from users.cache import Profile
from users.selectors import access_content_owner, access_profile, access_user, user_object, visible_profiles

PAGE_SIZE = 50


def _list(request: APIRequest, owner: Profile, kind: Kind) -> JsonResponse:
    values = params(request)
    count = count_param(values, default=PAGE_SIZE, high=100)
    ids, cursor = edge_page(user_id=owner.id, kind=kind, before=id_param(values, "cursor"), count=count)
    users = visible_profiles(viewer=request.api_user, ids=ids)
    pagination = {}
    if cursor is not None:
        pagination = {"next_cursor": str(cursor), "next_url": next_url(request, cursor=str(cursor))}
    return envelope([user_object(u) for u in users], pagination=pagination)


@api_endpoint(methods=("GET",))
def follows(request: APIRequest, user_ref: str) -> JsonResponse:
    owner = access_content_owner(viewer=request.api_user, user_ref=user_ref)
    return _list(request, owner, Kind.FOLLOWS)


@api_endpoint(methods=("GET",))
def followed_by(request: APIRequest, user_ref: str) -> JsonResponse:
    owner = access_content_owner(viewer=request.api_user, user_ref=user_ref)
    return _list(request, owner, Kind.FOLLOWED_BY)


@api_endpoint(methods=("GET",))
def requested_by(request: APIRequest) -> JsonResponse:
    owner, _ = access_profile(viewer=request.api_user, user_ref="self")
    return _list(request, owner, Kind.REQUESTED_BY)


def _relationship(state: State, target: Profile) -> dict[str, object]:
    return {
        "outgoing_status": outgoing_status(state),
        "incoming_status": incoming_status(state),
        "target_user_is_private": target.is_private,
    }


@api_endpoint(methods=("GET", "POST"))
def relationship(request: APIRequest, user_ref: str) -> JsonResponse:
    """GET: the viewer's relationship with the user. POST action=...: change it (scope relationships)."""
    viewer = request.api_user
    if request.method != "POST":
        target, state = access_profile(viewer=viewer, user_ref=user_ref)
        return envelope(_relationship(state, target))
    require_scope(request, "relationships")
    # Not access_profile: a user blocked by the target must still be able to unblock them.
    target = access_user(viewer=viewer, user_ref=user_ref)
    state = check_change_relationship(
        actor=viewer,
        target_id=target.id,
        target_is_private=target.is_private,
        action=params(request).get("action", "").strip(),
    )
    return envelope(_relationship(state, target))
