from django.urls import path

from sharing import views

urlpatterns = [
    path("users/self/linked_accounts", views.linked_account_list, name="linked-accounts"),
    path("users/self/linked_accounts/<str:service>", views.linked_account, name="linked-account"),
]
