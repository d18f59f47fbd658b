from django.urls import path

from subscriptions import views

urlpatterns = [
    path("subscriptions", views.subscriptions, name="subscriptions"),
    path(
        "geographies/<str:geo_id>/media/recent", views.geography_media_recent, name="geography-media-recent"
    ),
]
