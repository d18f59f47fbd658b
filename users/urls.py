from django.urls import path

from users import views

urlpatterns = [
    path("accounts/signup", views.sign_up, name="accounts-signup"),
    path("accounts/login", views.log_in, name="accounts-login"),
    path("accounts/logout", views.log_out, name="accounts-logout"),
    path("accounts/edit", views.edit_profile, name="accounts-edit"),
    path("users/search", views.search, name="user-search"),
    path("users/<str:user_ref>", views.user_detail, name="user-detail"),
]
