from django.urls import path

from relationships import views

urlpatterns = [
    path("users/self/requested-by", views.requested_by, name="user-requested-by"),
    path("users/<str:user_ref>/follows", views.follows, name="user-follows"),
    path("users/<str:user_ref>/followed-by", views.followed_by, name="user-followed-by"),
    path("users/<str:user_ref>/relationship", views.relationship, name="user-relationship"),
]
