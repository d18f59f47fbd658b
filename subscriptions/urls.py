from django.urls import path

from subscriptions import views

urlpatterns = [
    path("subscriptions", views.subscriptions, name="subscriptions"),
    path("subscriptions/", views.subscriptions),  # as v1's documentation wrote it
]
