"""The OAuth pages and endpoints: /oauth/authorize, /oauth/access_token, log-in and log-out.

The web pages are CSRF-protected one by one (there is no CsrfViewMiddleware:
the mobile app's JSON POSTs carry no token) and may not be framed.
"""

from django.contrib.auth.views import LoginView, LogoutView, redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse, reverse_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods
from oauth2_provider.http import OAuth2ResponseRedirect

from instagram.errors import allow_methods
from oauth.actions import check_issue_token, client_redirect_url, deny_authorization, do_approve_authorization
from oauth.errors import AuthorizationError, AuthorizationRedirectError, flat_errors
from oauth.selectors import (
    AuthorizationRequest,
    access_authorization_request,
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
