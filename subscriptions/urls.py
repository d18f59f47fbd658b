from django.urls import path

from subscriptions import views

urlpatterns = [
    path("subscriptions", views.subscriptions, name="subscriptions"),
]
