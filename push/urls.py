from django.urls import path

from push import views

urlpatterns = [
    path("users/self/devices", views.devices, name="user-devices"),
    path("users/self/devices/<str:token>", views.device, name="user-device"),
    path("users/self/push_settings", views.push_settings, name="user-push-settings"),
]
