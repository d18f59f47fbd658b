"""The `{{name}}` templates under deploy/, shared by the local stack and `fab setup`."""

from __future__ import annotations

import re

from deploy.localstack.base import StackError


def geo_allow(networks: list[str]) -> str:
    """Return the lines of an nginx `geo` block that map each of `networks` to 1."""
    return "\n".join(f"        {network} 1;" for network in networks)


def upstream_servers(addresses: list[str]) -> str:
    """Return the `server` lines of nginx's `app` upstream: every app server, passively checked."""
    return "\n".join(f"        server {address} max_fails=1 fail_timeout=10s;" for address in addresses)


def render(template: str, values: dict[str, object]) -> str:
    """Fill `{{name}}` placeholders; nginx's own `$vars` pass through untouched."""

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise StackError(f"template placeholder {{{{{key}}}}} has no value")
        return str(values[key])

    return re.sub(r"\{\{(\w+)\}\}", fill, template)
