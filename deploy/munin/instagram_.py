#!/usr/bin/env python3
"""Munin wildcard plugin: Instagram's app-level graphs, read from an app server's /metrics.

Link it under the name of each graph (the links beside it in deploy/munin/
are the whole set):

    ln -s .../deploy/munin/instagram_.py /etc/munin/plugins/instagram_signups

and tell it where /metrics is, in /etc/munin/plugin-conf.d/instagram
(deploy/munin/plugin-conf.d/instagram):

    [instagram_*]
    env.url http://127.0.0.1:8101/metrics

Graphs: signups (per minute), photos and likes (per second), fanout_lag
(seconds), gearman_queue (jobs per function), gearman_workers,
replica_lag (seconds) and replica_lag_bytes. Counters are DERIVE, so Munin
graphs their rate; the rest are GAUGE. `munin-run instagram_signups config`
describes a graph, `munin-run instagram_signups` fetches its values; a
figure /metrics does not have (the app server down, a source that did not
answer) is `U`, Munin's unknown. The standard library only: it runs with
the system's python3, outside the app's virtualenv.
"""

from __future__ import annotations

import os
import re
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

Samples = dict[str, list[tuple[dict[str, str], float]]]


def setting(name: str, default: str) -> str:
    """Return `env.<name>` of the plugin's configuration (Munin's names are lowercase)."""
    return os.environ.get(name) or default


def parse(text: str) -> Samples:
    """Return the samples of a Prometheus text exposition, by metric name."""
    samples: Samples = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match is None:
            continue
        name, labels, value = match.groups()
        try:
            number = float(value)
        except ValueError:
            continue
        samples.setdefault(name, []).append((dict(LABEL.findall(labels or "")), number))
    return samples


def field_name(label: str) -> str:
    """Return `label` as a Munin field name ([a-zA-Z_][a-zA-Z0-9_]*)."""
    cleaned = re.sub(r"[^a-zA-Z0-9_]", "_", label)
    return cleaned if re.match(r"[a-zA-Z_]", cleaned) else f"_{cleaned}"


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    metric: str
    labels: dict[str, str] = field(default_factory=dict)
    kind: str = "GAUGE"
    extra: dict[str, str] = field(default_factory=dict)

    def value(self, samples: Samples) -> str:
        for labels, number in samples.get(self.metric, []):
            if all(labels.get(key) == wanted for key, wanted in self.labels.items()):
                return str(int(number)) if number.is_integer() else repr(number)
        return "U"


@dataclass(frozen=True)
class Graph:
    title: str
    vlabel: str
    info: str
    fields: Callable[[Samples], list[Field]]
    period: str = "second"
    args: str = "--base 1000 -l 0"


def _counter(name: str, label: str, metric: str) -> Callable[[Samples], list[Field]]:
    return lambda samples: [Field(name, label, metric, kind="DERIVE", extra={"min": "0"})]


def _per_label(metric: str, label: str, *, draw: str = "LINE1") -> Callable[[Samples], list[Field]]:
    def fields(samples: Samples) -> list[Field]:
        values = sorted({labels[label] for labels, _ in samples.get(metric, []) if label in labels})
        return [Field(field_name(v), v, metric, {label: v}, extra={"draw": draw}) for v in values]

    return fields


def _fanout_fields(samples: Samples) -> list[Field]:
    warning = setting("fanout_lag_warning", "60")
    critical = setting("fanout_lag_critical", "300")
    return [
        Field(
            "pending_age",
            "oldest unfinished fan-out",
            "instagram_fanout_pending_age_seconds",
            extra={"warning": warning, "critical": critical},
        ),
        Field("last", "last finished fan-out", "instagram_fanout_lag_last_seconds"),
    ]


def _workers_fields(samples: Samples) -> list[Field]:
    return [
        Field(
            "connected",
            "connected workers",
            "instagram_gearman_connected_workers",
            extra={"critical": setting("workers_critical", "1:")},
        )
    ]


GRAPHS = {
    "signups": Graph(
        "Sign-ups",
        "sign-ups per ${graph_period}",
        "Accounts created, counted after their commit.",
        _counter("signups", "sign-ups", "instagram_signups_total"),
        period="minute",
    ),
    "photos": Graph(
        "Photos posted",
        "photos per ${graph_period}",
        "Photos posted (uploads committed; a retried upload counts once).",
        _counter("photos", "photos", "instagram_photos_posted_total"),
    ),
    "likes": Graph(
        "Likes",
        "likes per ${graph_period}",
        "Likes given (liking a photo twice counts once).",
        _counter("likes", "likes", "instagram_likes_total"),
    ),
    "fanout_lag": Graph(
        "Feed fan-out lag",
        "seconds",
        "pending_age: since the commit of the oldest post whose fan-out has not finished (0: none). "
        "last: from commit to the end of fan-out, for the post that finished last.",
        _fanout_fields,
    ),
    "gearman_queue": Graph(
        "Gearman queue depth",
        "jobs",
        "Jobs of each function in gearmand, waiting or running.",
        _per_label("instagram_gearman_queued", "function", draw="AREASTACK"),
    ),
    "gearman_workers": Graph(
        "Gearman workers",
        "workers",
        "Worker processes connected to gearmand that serve the app's functions.",
        _workers_fields,
    ),
    "replica_lag": Graph(
        "PostgreSQL standby lag",
        "seconds",
        "Seconds since each standby replayed its last transaction; 0 when it has replayed all WAL.",
        _per_label("instagram_replica_lag_seconds", "database"),
    ),
    "replica_lag_bytes": Graph(
        "PostgreSQL standby lag (bytes)",
        "bytes",
        "WAL bytes each standby has yet to replay.",
        _per_label("instagram_replica_lag_bytes", "database"),
        args="--base 1024 -l 0",
    ),
}


def fetch_samples(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=float(setting("timeout", "10"))) as response:  # noqa: S310
        return parse(response.read().decode("utf-8"))


def config(graph: Graph, samples: Samples) -> list[str]:
    lines = [
        f"graph_title {graph.title}",
        f"graph_vlabel {graph.vlabel}",
        f"graph_info {graph.info}",
        f"graph_args {graph.args}",
        "graph_category instagram",
        f"graph_period {graph.period}",
    ]
    for item in graph.fields(samples):
        lines += [f"{item.name}.label {item.label}", f"{item.name}.type {item.kind}"]
        lines += [f"{item.name}.{key} {value}" for key, value in item.extra.items()]
    return lines


def main(argv: list[str]) -> int:
    name = os.path.basename(argv[0]).removeprefix("instagram_")
    graph = GRAPHS.get(name)
    command = argv[1] if len(argv) > 1 else "fetch"
    if command == "suggest":
        print("\n".join(GRAPHS))
        return 0
    url = setting("url", "http://127.0.0.1:8000/metrics")
    if command == "autoconf":
        try:
            fetch_samples(url)
        except OSError as exc:
            print(f"no ({url}: {exc})")
        else:
            print("yes")
        return 0
    if graph is None:
        print(f"unknown graph {name!r}; link this plugin as instagram_<graph>, one of: {', '.join(GRAPHS)}")
        return 1
    try:
        samples = fetch_samples(url)
    except OSError as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        samples = {}
        if command == "config" and graph.fields(samples) == []:
            return 1  # fields named after what /metrics lists cannot be described without it
    if command == "config":
        print("\n".join(config(graph, samples)))
    else:
        print("\n".join(f"{item.name}.value {item.value(samples)}" for item in graph.fields(samples)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
