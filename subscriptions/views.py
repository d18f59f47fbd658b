"""v1 real-time subscriptions: an app, by its client_id and client_secret, subscribes and unsubscribes."""

from django.http import JsonResponse
from oauth2_provider.models import Application

from instagram.api import (
    ClientRequest,
    PublicAPIRequest,
    api_endpoint,
    client_endpoint,
    client_params,
    params,
)
from instagram.errors import APIInvalidParametersError, envelope
from instagram.parameters import count_param
from photos import geo
from photos.selectors import visible_cards
from photos.views import MAX_PAGE, PAGE_SIZE, media_id_param, media_page
from subscriptions.actions import check_create_subscription, do_delete_subscriptions
from subscriptions.selectors import access_geography, client_subscriptions, subscription_object


@client_endpoint(methods=("GET", "POST", "DELETE"))
def subscriptions(request: ClientRequest) -> JsonResponse:
    """GET: the app's subscriptions. POST: subscribe (after the handshake). DELETE id= or object=."""
    application: Application = request.api_client
    values = client_params(request)
    if request.method == "POST":
        subscription = check_create_subscription(
            application=application, client_secret=values["client_secret"], values=values
        )
        return envelope(subscription_object(subscription))
    if request.method == "DELETE":
        do_delete_subscriptions(application=application, values=values)
        return envelope(None)
    return envelope([subscription_object(s) for s in client_subscriptions(application=application)])


@api_endpoint(methods=("GET",), public=True)
def geography_media_recent(request: PublicAPIRequest, geo_id: str) -> JsonResponse:
    """The newest media in the circle of one of the calling app's geography subscriptions (v1's geo-id).

    The app is the client_id's (a public read) or the token's; the window is
    the last 7 days, as media search's; `min_id` keeps only newer media.
    """
    token = request.access_token
    application = token.application if token is not None else request.api_client
    geography = access_geography(application=application, geo_ref=geo_id)
    values = params(request)
    count = count_param(values, default=PAGE_SIZE, high=MAX_PAGE)
    min_id = media_id_param(values, "min_id")
    try:
        ids = geo.search_media(
            latitude=float(geography.latitude or 0),
            longitude=float(geography.longitude or 0),
            distance_m=int(geography.radius or 1),
            min_time=None,
            max_time=None,
            count=count,
        )
    except ValueError as exc:
        raise APIInvalidParametersError(f"{exc}.") from None
    newer = [media_id for media_id in ids if min_id is None or media_id > min_id]
    return media_page(request, visible_cards(viewer=request.api_user, ids=newer))
