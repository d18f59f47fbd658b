from django.contrib import admin
from django.urls import include, path
from django.views.generic.base import RedirectView

from apidocs import views as apidocs_views
from instagram import openapi, views
from monitoring import views as monitoring_views
from oauth import views as oauth_views
from photos import embed, web

urlpatterns = [
    path("health", views.health, name="health"),
    path("ping", views.ping, name="ping"),
    path("metrics", monitoring_views.metrics, name="metrics"),
    path("v1/openapi.json", openapi.openapi_json, name="openapi"),
    path("v1/docs", apidocs_views.api_docs, name="api-docs"),
    # The account's authorized apps (oauth/views.py), before users/<user_ref>/...
    path("v1/users/self/authorized_apps", oauth_views.authorized_apps, name="authorized-apps"),
    path("v1/users/self/authorized_apps/<str:client_id>", oauth_views.authorized_app, name="authorized-app"),
    path("v1/", include("users.urls")),
    path("v1/", include("relationships.urls")),
    path("v1/", include("photos.urls")),
    path("v1/", include("feeds.urls")),
    path("v1/", include("push.urls")),
    path("v1/", include("sharing.urls")),
    path("v1/", include("subscriptions.urls")),
    path("v1/", include("reports.urls")),
    path("oauth/", include("oauth.urls")),
    path("admin/", admin.site.urls),
    path("oembed", embed.oembed, name="oembed"),
    path("oembed/", embed.oembed),
    path("p/<str:code>/", web.permalink, name="permalink"),
    path("p/<str:code>/media/", embed.media_redirect, name="permalink-media"),
    path("p/<str:code>", RedirectView.as_view(pattern_name="permalink", permanent=True)),
]

handler400 = "instagram.views.bad_request"
handler403 = "instagram.views.permission_denied"
handler404 = "instagram.views.not_found"
handler500 = "instagram.views.server_error"
