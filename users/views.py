"""v1 endpoints for accounts: the mobile app's sign-up/log-in/log-out, and users."""

from django.http import HttpRequest, JsonResponse

from instagram.api import APIInvalidParametersError, api_endpoint, count_param, params, required
from instagram.errors import envelope
from photos.imaging import MAX_UPLOAD_BYTES
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
def sign_up(request: HttpRequest) -> JsonResponse:
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
def log_in(request: HttpRequest) -> JsonResponse:
    username, password = required(params(request), "username", "password")
    user = check_log_in(username=username, password=password)
    token = do_issue_token(user=user)
    return envelope({"access_token": token.token, "user": user_object(user)})


@api_endpoint(methods=("POST",))
def log_out(request: HttpRequest) -> JsonResponse:
    do_revoke_token(token=request.access_token)  # type: ignore[attr-defined]
    return envelope(None)


@api_endpoint(methods=("POST",), first_party=True)
def edit_profile(request: HttpRequest) -> JsonResponse:
    user = check_edit_profile(user=request.api_user, changes=params(request))  # type: ignore[attr-defined]
    return envelope(user_object(user))


@api_endpoint(methods=("POST", "DELETE"), first_party=True)
def profile_picture(request: HttpRequest) -> JsonResponse:
    """POST: multipart/form-data with the picture in `photo`. DELETE: back to the default picture."""
    user = request.api_user  # type: ignore[attr-defined]
    if request.method == "DELETE":
        return envelope(user_object(do_set_profile_picture(user=user, rendition=None)))
    if request.content_type != "multipart/form-data":
        raise APIInvalidParametersError(
            "The profile picture must be sent as multipart/form-data with a file field named photo."
        )
    photo = request.FILES.get("photo")
    if photo is not None and photo.size is not None and photo.size > MAX_UPLOAD_BYTES:
        raise APIInvalidParametersError(f"The photo is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    user = check_set_profile_picture(user=user, photo=photo.read() if photo is not None else None)
    return envelope(user_object(user))


@api_endpoint(methods=("POST",), first_party=True)
def change_password(request: HttpRequest) -> JsonResponse:
    password, new_password = required(params(request), "password", "new_password")
    check_change_password(
        user=request.api_user,  # type: ignore[attr-defined]
        keep=request.access_token,  # type: ignore[attr-defined]
        password=password,
        new_password=new_password,
    )
    return envelope(None)


@api_endpoint(methods=("POST",), scope=None)
def request_password_reset(request: HttpRequest) -> JsonResponse:
    (login,) = required(params(request), "login")
    do_request_password_reset(login=login)
    return envelope(None)


@api_endpoint(methods=("POST",), scope=None)
def confirm_password_reset(request: HttpRequest) -> JsonResponse:
    uid, token, new_password = required(params(request), "uid", "token", "new_password")
    check_confirm_password_reset(uid=uid, token=token, new_password=new_password)
    return envelope(None)


@api_endpoint(methods=("POST",), first_party=True)
def change_email(request: HttpRequest) -> JsonResponse:
    password, email = required(params(request), "password", "email")
    user = check_change_email(user=request.api_user, password=password, email=email)  # type: ignore[attr-defined]
    return envelope({"email": user.email})


@api_endpoint(methods=("POST",), first_party=True)
def delete_account(request: HttpRequest) -> JsonResponse:
    (password,) = required(params(request), "password")
    check_delete_account(user=request.api_user, password=password)  # type: ignore[attr-defined]
    return envelope(None)


@api_endpoint(methods=("GET",), public=True)
def user_detail(request: HttpRequest, user_ref: str) -> JsonResponse:
    user, _ = access_profile(viewer=request.api_user, user_ref=user_ref)  # type: ignore[attr-defined]
    return envelope(user_object(user))


@api_endpoint(methods=("GET",), public=True)
def search(request: HttpRequest) -> JsonResponse:
    values = params(request)
    (query,) = required(values, "q")
    count = count_param(values, default=SEARCH_SIZE, high=100)
    users = search_users(viewer=request.api_user, query=query, count=count)  # type: ignore[attr-defined]
    return envelope([user_object(u) for u in users])
