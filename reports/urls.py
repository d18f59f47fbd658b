from django.urls import path

from reports import views

urlpatterns = [
    path("media/<str:media_ref>/report", views.report_media, name="media-report"),
    path(
        "media/<str:media_ref>/comments/<str:comment_ref>/report", views.report_comment, name="comment-report"
    ),
    path("users/<str:user_ref>/report", views.report_user, name="user-report"),
]
