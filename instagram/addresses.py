"""Who is asking: the client address nginx saw, checked against allowed networks."""

import ipaddress
from functools import cache

from django.http import HttpRequest


@cache
def _networks(allowed: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(network, strict=False) for network in allowed]


def _allowed(address: str, allowed: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in _networks(allowed))


def from_allowed_network(request: HttpRequest, allowed: list[str]) -> bool:
    """Whether every hop of the request is in one of the `allowed` networks (CIDR).

    The peer (a monitor, or nginx) must be allowed, and so must the client
    nginx saw: the last X-Forwarded-For entry, which nginx appends itself
    (earlier entries are whatever the client sent), so that the load
    balancer does not open the page to the world.
    """
    hops = [request.META.get("REMOTE_ADDR", "")]
    forwarded = request.headers.get("X-Forwarded-For")
    if forwarded:
        hops.append(forwarded.rsplit(",", 1)[-1])
    return all(_allowed(hop, tuple(allowed)) for hop in hops)
