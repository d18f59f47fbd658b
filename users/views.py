"""v1 endpoints for accounts: the mobile app's sign-up/log-in/log-out, and users."""

from django.http import JsonResponse

from instagram.api import APIRequest, PublicAPIRequest, api_endpoint, params
from instagram.errors import APIInvalidParametersError, envelope
from instagram.parameters import count_param, required
from photos.actions import check_photo_size
from users.actions import (
    check_change_email,
    check_change_password,
    check_confirm_password_reset,
    check_delete_account,
    check_edit_profile,
    check_log_in,
    check_set_profile_picture,
    check_sign_up,
    do_issue_token,
    do_request_password_reset,
    do_revoke_token,
    do_set_profile_picture,
)
from users.selectors import access_profile, search_users, user_object

SEARCH_SIZE = 20


@api_endpoint(methods=("POST",), scope=None)
def sign_up(request: APIRequest) -> JsonResponse:
    values = params(request)
    username, password = required(values, "username", "password")
    user = check_sign_up(
        username=username,
        password=password,
        email=values.get("email", "").strip(),
        full_name=values.get("full_name", "").strip(),
    )
    token = do_issue_token(user=user)
    return envelope({"access_token": token.token, "user": user_object(user)})


@api_endpoint(methods=("POST",), scope=None)
def log_in(request: APIRequest) -> JsonResponse:
    username, password = required(params(request), "username", "password")
    user = check_log_in(username=username, password=password)
    token = do_issue_token(user=user)
    return envelope({"access_token": token.token, "user": user_object(user)})


@api_endpoint(methods=("POST",))
def log_out(request: APIRequest) -> JsonResponse:
    do_revoke_token(token=request.access_token)
    return envelope(None)


@api_endpoint(methods=("POST",), first_party=True)
def edit_profile(request: APIRequest) -> JsonResponse:
    user = check_edit_profile(user=request.api_user, changes=params(request))
    return envelope(user_object(user))


@api_endpoint(methods=("POST", "DELETE"), first_party=True)
def profile_picture(request: APIRequest) -> JsonResponse:
    """POST: multipart/form-data with the picture in `photo`. DELETE: back to the default picture."""
    user = request.api_user
    if request.method == "DELETE":
        return envelope(user_object(do_set_profile_picture(user=user, rendition=None)))
    if request.content_type != "multipart/form-data":
        raise APIInvalidParametersError(
            "The profile picture must be sent as multipart/form-data with a file field named photo."
        )
    photo = request.FILES.get("photo")
    if photo is not None and photo.size is not None:
        check_photo_size(photo.size)
    user = check_set_profile_picture(user=user, photo=photo.read() if photo is not None else None)
    return envelope(user_object(user))


@api_endpoint(methods=("POST",), first_party=True)
def change_password(request: APIRequest) -> JsonResponse:
    password, new_password = required(params(request), "password", "new_password")
    check_change_password(
        user=request.api_user,
        keep=request.access_token,
        password=password,
        new_password=new_password,
    )
    return envelope(None)


@api_endpoint(methods=("POST",), scope=None)
def request_password_reset(request: APIRequest) -> JsonResponse:
    (login,) = required(params(request), "login")
    do_request_password_reset(login=login)
    return envelope(None)


@api_endpoint(methods=("POST",), scope=None)
def confirm_password_reset(request: APIRequest) -> JsonResponse:
    uid, token, new_password = required(params(request), "uid", "token", "new_password")
    check_confirm_password_reset(uid=uid, token=token, new_password=new_password)
    return envelope(None)


@api_endpoint(methods=("POST",), first_party=True)
def change_email(request: APIRequest) -> JsonResponse:
    password, email = required(params(request), "password", "email")
    user = check_change_email(user=request.api_user, password=password, email=email)
    return envelope({"email": user.email})


@api_endpoint(methods=("POST",), first_party=True)
def delete_account(request: APIRequest) -> JsonResponse:
    (password,) = required(params(request), "password")
    check_delete_account(user=request.api_user, password=password)
    return envelope(None)


@api_endpoint(methods=("GET",), public=True)
def user_detail(request: PublicAPIRequest, user_ref: str) -> JsonResponse:
    user, _ = access_profile(viewer=request.api_user, user_ref=user_ref)
    return envelope(user_object(user))


@api_endpoint(methods=("GET",), public=True)
def search(request: PublicAPIRequest) -> JsonResponse:
    values = params(request)
    (query,) = required(values, "q")
    count = count_param(values, default=SEARCH_SIZE, high=100)
    users = search_users(viewer=request.api_user, query=query, count=count)
    return envelope([user_object(u) for u in users])
