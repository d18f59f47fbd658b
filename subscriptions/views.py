"""v1 real-time subscriptions: an app, by its client_id and client_secret, subscribes and unsubscribes."""

from django.http import HttpRequest, JsonResponse
from oauth2_provider.models import Application

from instagram.api import client_endpoint, client_params
from instagram.errors import envelope
from subscriptions.actions import check_create_subscription, do_delete_subscriptions
from subscriptions.selectors import client_subscriptions, subscription_object


@client_endpoint(methods=("GET", "POST", "DELETE"))
def subscriptions(request: HttpRequest) -> JsonResponse:
    """GET: the app's subscriptions. POST: subscribe (after the handshake). DELETE id= or object=."""
    application: Application = request.api_client  # type: ignore[attr-defined]
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
