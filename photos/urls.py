from django.urls import path

from photos import views

urlpatterns = [
    path("media/upload", views.upload, name="media-upload"),
    path("media/upload/video", views.upload_video, name="media-upload-video"),
    path("media/search", views.media_search, name="media-search"),
    path("media/popular", views.media_popular, name="media-popular"),
    path("media/shortcode/<str:code>", views.media_by_shortcode, name="media-shortcode"),
    path("media/<str:media_ref>", views.media, name="media"),
    path("media/<str:media_ref>/likes", views.likes, name="media-likes"),
    path("media/<str:media_ref>/comments", views.comments, name="media-comments"),
    path("media/<str:media_ref>/comments/<str:comment_ref>", views.comment, name="media-comment"),
    path("users/self/media/liked", views.liked_media, name="user-liked-media"),
    path("users/<str:user_ref>/media/recent", views.user_recent_media, name="user-recent-media"),
    path("tags/search", views.tag_search, name="tag-search"),
    path("tags/<str:name>", views.tag, name="tag"),
    path("tags/<str:name>/media/recent", views.tag_recent_media, name="tag-recent-media"),
    path("locations/search", views.location_search, name="location-search"),
    path("locations/<str:location_ref>", views.location, name="location"),
    path(
        "locations/<str:location_ref>/media/recent", views.location_recent_media, name="location-recent-media"
    ),
]
