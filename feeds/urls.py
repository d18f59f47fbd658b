from django.urls import path

from feeds import views

urlpatterns = [
    path("users/self/feed", views.feed, name="feed"),
    path("users/self/news/you", views.news_you, name="news-you"),
    path("users/self/news/following", views.news_following, name="news-following"),
]
