from django.urls import path

from oauth import views

urlpatterns = [
    path("authorize", views.authorize, name="oauth-authorize"),
    path("access_token", views.access_token, name="oauth-access-token"),
    # The forms v1's documentation printed, with a trailing slash.
    path("authorize/", views.authorize),
    path("access_token/", views.access_token),
    path("login", views.log_in, name="oauth-login"),
    path("logout", views.log_out, name="oauth-logout"),
    path("authorized_apps", views.authorized_apps_page, name="oauth-authorized-apps"),
]
