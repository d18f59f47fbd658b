"""/metrics: the Prometheus text format, for scrapers on the addresses METRICS_ALLOWED_IPS lists."""

import ipaddress
import os
from functools import cache

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from instagram.errors import allow_methods
from monitoring.collector import StackCollector


@cache
def _networks(allowed: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(network, strict=False) for network in allowed]


def _allowed(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in _networks(tuple(settings.METRICS_ALLOWED_IPS)))


def may_scrape(request: HttpRequest) -> bool:
    """Whether every hop of the request is an allowed address.

    The peer (a scraper, or nginx) must be allowed, and so must the client
    nginx saw: the last X-Forwarded-For entry, which nginx appends itself,
    so that the load balancer does not open /metrics to the world.
    """
    hops = [request.META.get("REMOTE_ADDR", "")]
    forwarded = request.headers.get("X-Forwarded-For")
    if forwarded:
        hops.append(forwarded.rsplit(",", 1)[-1])
    return all(_allowed(hop) for hop in hops)


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
