"""The OAuth pages and endpoints: /oauth/authorize, /oauth/access_token, log-in and log-out, authorized apps.

The web pages are CSRF-protected one by one (there is no CsrfViewMiddleware:
the mobile app's JSON POSTs carry no token) and may not be framed.
"""

from contextlib import suppress

from django.contrib.auth.views import LoginView, LogoutView, redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods
from oauth2_provider.http import OAuth2ResponseRedirect

from instagram.api import APIRequest, api_endpoint
from instagram.errors import APINotFoundError, allow_methods, envelope
from oauth.actions import (
    check_issue_token,
    check_revoke_app,
    client_redirect_url,
    deny_authorization,
    do_approve_authorization,
)
from oauth.errors import AuthorizationError, AuthorizationRedirectError, flat_errors
from oauth.selectors import (
    AuthorizationRequest,
    access_authorization_request,
    authorized_apps_of,
    redirect_host,
    scope_descriptions,
    token_user_object,
)


def _to_client(url: str, authorization: AuthorizationRequest | None = None) -> HttpResponse:
    schemes = authorization.application.get_allowed_schemes() if authorization else ["http", "https"]
    response: HttpResponse = OAuth2ResponseRedirect(url, schemes)
    return response


@never_cache
@xframe_options_deny
@csrf_protect
@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest) -> HttpResponse:
    try:
        authorization = access_authorization_request(request=request)
        if not request.user.is_authenticated:
            return redirect_to_login(authorization.page_url, login_url=reverse("oauth-login"))
        if request.method == "GET":
            context = {
                "authorization": authorization,
                "application": authorization.application,
                "scopes": scope_descriptions(authorization.scopes),
                "redirect_host": redirect_host(authorization.redirect_uri),
            }
            return render(request, "oauth/authorize.html", context)
        if request.POST.get("decision") == "approve":
            return _to_client(
                do_approve_authorization(request=request, authorization=authorization), authorization
            )
        return _to_client(deny_authorization(authorization=authorization), authorization)
    except AuthorizationError as error:
        return render(request, "oauth/error.html", {"message": error.message}, status=400)
    except AuthorizationRedirectError as error:
        if not error.redirect_uri:
            return render(request, "oauth/error.html", {"message": str(error)}, status=400)
        url = client_redirect_url(
            redirect_uri=error.redirect_uri,
            response_type=error.response_type,
            params=list(error.params.items()),
        )
        return _to_client(url)


@flat_errors
@allow_methods("POST")
def access_token(request: HttpRequest) -> JsonResponse:
    issued = check_issue_token(request=request)
    return JsonResponse({"access_token": issued.raw, "user": token_user_object(issued.user)})


# Django's own log-in and log-out views (each CSRF-protected) with our template.
log_in = xframe_options_deny(
    LoginView.as_view(template_name="oauth/login.html", next_page=reverse_lazy("oauth-login"))
)
log_out = LogoutView.as_view(next_page=reverse_lazy("oauth-login"))


@api_endpoint(methods=("GET",), first_party=True)
def authorized_apps(request: APIRequest) -> JsonResponse:
    """The third-party apps holding tokens for the caller (the mobile app's settings screen)."""
    apps = authorized_apps_of(request.api_user)
    return envelope([app.as_v1() for app in apps])


@api_endpoint(methods=("DELETE",), first_party=True)
def authorized_app(request: APIRequest, client_id: str) -> JsonResponse:
    """Revoke one app's access to the caller's account."""
    check_revoke_app(user=request.api_user, client_id=client_id)
    return envelope(None)


@never_cache
@xframe_options_deny
@csrf_protect
@require_http_methods(["GET", "POST"])
def authorized_apps_page(request: HttpRequest) -> HttpResponse:
    """The web page of the same list, each app with a button that revokes it."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), login_url=reverse("oauth-login"))
    if request.method == "POST":
        # Already revoked (a second click, another tab): the list below says so.
        with suppress(APINotFoundError):
            check_revoke_app(user=request.user, client_id=request.POST.get("client_id", ""))
        return redirect("oauth-authorized-apps")
    apps = [(app, scope_descriptions(app.scopes)) for app in authorized_apps_of(request.user)]
    return render(request, "oauth/authorized_apps.html", {"apps": apps})
