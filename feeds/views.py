"""v1 feed and news endpoints."""

from django.http import JsonResponse

from feeds import news
from feeds.actions import do_rebuild_feed
from feeds.selectors import feed_page, news_entries
from instagram.api import APIRequest, api_endpoint, next_url, params
from instagram.errors import envelope
from instagram.parameters import count_param, id_param
from photos.views import media_id_param, media_page

FEED_PAGE = 20
NEWS_PAGE = 30


@api_endpoint(methods=("GET",))
def feed(request: APIRequest) -> JsonResponse:
    """GET /v1/users/self/feed: the newest media of the people the user follows (count, max_id, min_id)."""
    values = params(request)
    count = count_param(values, default=FEED_PAGE, high=100)
    viewer = request.api_user
    max_id, min_id = media_id_param(values, "max_id"), media_id_param(values, "min_id")
    page = feed_page(viewer=viewer, max_id=max_id, min_id=min_id, count=count)
    if page is None:  # the feed expired or was never built: rebuild it from PostgreSQL, then read it
        do_rebuild_feed(user_id=viewer.id)
        page = feed_page(viewer=viewer, max_id=max_id, min_id=min_id, count=count, rebuilt=True)
    assert page is not None  # a rebuilt read never answers None
    cards, next_max_id = page
    if next_max_id is None:
        return media_page(request, cards)
    return media_page(request, cards, max_id=str(next_max_id))


def _news(request: APIRequest, tab: str) -> JsonResponse:
    values = params(request)
    count = count_param(values, default=NEWS_PAGE, high=100)
    entries, cursor = news_entries(
        viewer=request.api_user,
        tab=tab,
        before_ms=id_param(values, "cursor"),
        count=count,
    )
    pagination = {}
    if cursor is not None:
        pagination = {"next_cursor": str(cursor), "next_url": next_url(request, cursor=str(cursor))}
    return envelope(entries, pagination=pagination)


@api_endpoint(methods=("GET",))
def news_you(request: APIRequest) -> JsonResponse:
    """GET /v1/users/self/news/you: likes, comments, mentions, follows and requests concerning the user."""
    return _news(request, news.YOU)


@api_endpoint(methods=("GET",))
def news_following(request: APIRequest) -> JsonResponse:
    """GET /v1/users/self/news/following: what the people the user follows did."""
    return _news(request, news.FOLLOWING)
