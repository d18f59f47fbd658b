from django.urls import path

from users import views

urlpatterns = [
    path("accounts/signup", views.sign_up, name="accounts-signup"),
    path("accounts/login", views.log_in, name="accounts-login"),
    path("accounts/logout", views.log_out, name="accounts-logout"),
    path("accounts/edit", views.edit_profile, name="accounts-edit"),
    path("accounts/profile_picture", views.profile_picture, name="accounts-profile-picture"),
    path("accounts/password", views.change_password, name="accounts-password"),
    path("accounts/password/reset", views.request_password_reset, name="accounts-password-reset"),
    path(
        "accounts/password/reset/confirm",
        views.confirm_password_reset,
        name="accounts-password-reset-confirm",
    ),
    path("accounts/email", views.change_email, name="accounts-email"),
    path("accounts/delete", views.delete_account, name="accounts-delete"),
    path("users/search", views.search, name="user-search"),
    path("users/<str:user_ref>", views.user_detail, name="user-detail"),
]
