"""Reading what the monitoring exposes: /metrics samples, and the sandboxes' logs."""

from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from sandboxes.records import read
from tests.conftest import Stack


def app_server(stack: Stack) -> str:
    """The first app server itself: /metrics is scraped per app server, not through nginx."""
    return f"http://127.0.0.1:{stack.profile.apps[0]}"


def scrape(stack: Stack, http: requests.Session) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Return every sample of the first app server's /metrics, keyed by name and label set."""
    response = http.get(f"{app_server(stack)}/metrics", timeout=15)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def recorded(stack: Stack, service: str, *, after: int = 0) -> list[dict[str, Any]]:
    """The requests `service`'s sandbox recorded, from the `after`-th on."""
    return read(stack.profile.var / "sandbox", service)[after:]
