"""GET /v1/docs: the v1 API's description (/v1/openapi.json) as a browsable page.

Redoc's standalone bundle comes from the drf-spectacular-sidecar package and
is served from our own static files, so the page needs no network but ours.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from instagram.errors import allow_methods


@allow_methods("GET")
def api_docs(request: HttpRequest) -> HttpResponse:
    return render(request, "apidocs/redoc.html", {"spec_url": reverse("openapi")})
