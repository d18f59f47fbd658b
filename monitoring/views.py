"""/metrics: the Prometheus text format, for scrapers on the addresses METRICS_ALLOWED_IPS lists."""

import os

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from instagram.addresses import from_allowed_network
from instagram.errors import allow_methods
from monitoring.collector import StackCollector


def may_scrape(request: HttpRequest) -> bool:
    """Whether the scraper and the client nginx saw are on METRICS_ALLOWED_IPS."""
    return from_allowed_network(request, settings.METRICS_ALLOWED_IPS)


def _process_registry() -> CollectorRegistry:
    # gunicorn sets PROMETHEUS_MULTIPROC_DIR (deploy/gunicorn/gunicorn.conf.py):
    # each of its worker processes writes its histograms to files there, and
    # any one of them reads them all. Elsewhere the process keeps its own.
    multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not multiproc_dir:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=multiproc_dir)  # type: ignore[no-untyped-call]
    return registry


@allow_methods("GET")
def metrics(request: HttpRequest) -> HttpResponse:
    if not may_scrape(request):
        raise PermissionDenied
    stack = CollectorRegistry(auto_describe=False)
    stack.register(StackCollector())
    body = generate_latest(_process_registry()) + generate_latest(stack)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
