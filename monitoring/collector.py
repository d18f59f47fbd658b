"""Every app-level figure, read when /metrics is scraped, as Prometheus metric families.

The figures are cluster-wide (Redis, gearmand, the standbys): each app
server reports the same values, so queries take `max without (instance)`.
A source that does not answer leaves its figures out and reports
`instagram_collector_up{source=...} 0`, so a scrape never fails as a whole.
"""

import logging
import re
from collections.abc import Iterator
from typing import Any

import gearman
from django.conf import settings
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from instagram.health import check_replica
from monitoring import stats
from workers.jobs import REGISTRY

logger = logging.getLogger(__name__)

COUNTERS = {
    stats.SIGNUPS: ("instagram_signups", "Accounts created (committed sign-ups)."),
    stats.PHOTOS: (
        "instagram_photos_posted",
        "Photos posted (committed uploads, retries not counted twice).",
    ),
    stats.LIKES: ("instagram_likes", "Likes given (a repeated like of the same photo counts once)."),
}


def function_label(function: str) -> str:
    """Return a Gearman function's short name: `instagram.media_posted.v1` -> `media_posted_v1`."""
    return re.sub(r"\W", "_", function.removeprefix("instagram."))


class StackCollector(Collector):
    """Collects the counters (Redis), the Gearman queues and workers, and the standbys' lag."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "instagram_collector_up",
            "Whether each source of figures answered this scrape.",
            labels=["source"],
        )
        for source, read in (("redis", self._redis), ("gearmand", self._gearmand)):
            try:
                yield from read()
            except Exception as exc:  # a source that is down leaves its figures out
                logger.warning("metrics: %s did not answer: %s", source, exc)
                up.add_metric([source], 0)
            else:
                up.add_metric([source], 1)
        yield from self._replicas(up)
        yield up
        info = GaugeMetricFamily(
            "instagram_build_info", "The release and environment serving.", labels=["release", "environment"]
        )
        info.add_metric([settings.RELEASE, settings.ENVIRONMENT], 1)
        yield info

    def _redis(self) -> Iterator[Metric]:
        figures = stats.read_stats()
        counters = figures.counters
        for field, (name, documentation) in COUNTERS.items():
            yield CounterMetricFamily(name, documentation, value=counters.get(field, 0.0))
        yield SummaryMetricFamily(
            "instagram_fanout_lag_seconds",
            "Seconds from a post's commit to the end of its fan-out, over every finished fan-out.",
            count_value=int(counters.get(stats.FANOUTS_FINISHED, 0)),
            sum_value=counters.get(stats.FANOUT_LAG_SUM, 0.0),
        )
        yield GaugeMetricFamily(
            "instagram_fanout_lag_last_seconds",
            "Seconds from commit to the end of fan-out of the post that finished last.",
            value=counters.get(stats.FANOUT_LAG_LAST, 0.0),
        )
        yield GaugeMetricFamily(
            "instagram_fanout_pending", "Posts whose fan-out has not finished.", value=figures.fanout_pending
        )
        yield GaugeMetricFamily(
            "instagram_fanout_pending_age_seconds",
            "Seconds since the commit of the oldest post whose fan-out has not finished (0: none).",
            value=figures.fanout_pending_age,
        )

    def _gearmand(self) -> Iterator[Metric]:
        admin = gearman.GearmanAdminClient(settings.GEARMAN_SERVERS, poll_timeout=2.0)
        try:
            statuses: list[dict[str, Any]] = admin.get_status()
            workers: list[dict[str, Any]] = admin.get_workers()
        finally:
            admin.shutdown()
        families = {
            field: GaugeMetricFamily(f"instagram_gearman_{field}", documentation, labels=["function"])
            for field, documentation in (
                ("queued", "Jobs of each function in gearmand, waiting or running."),
                ("running", "Jobs of each function a worker is running."),
                ("workers", "Workers able to run each function."),
            )
        }
        for status in statuses:
            if status["task"] in REGISTRY:
                for field, family in families.items():
                    family.add_metric([function_label(status["task"])], status[field])
        yield from families.values()
        yield GaugeMetricFamily(
            "instagram_gearman_connected_workers",
            "Worker processes connected to gearmand that serve our functions.",
            value=sum(1 for worker in workers if set(worker["tasks"]) & set(REGISTRY)),
        )

    def _replicas(self, up: GaugeMetricFamily) -> Iterator[Metric]:
        lag_bytes = GaugeMetricFamily(
            "instagram_replica_lag_bytes", "WAL bytes a standby has yet to replay.", labels=["database"]
        )
        lag_seconds = GaugeMetricFamily(
            "instagram_replica_lag_seconds",
            "Seconds since the standby replayed its last transaction, 0 when it has replayed all WAL.",
            labels=["database"],
        )
        for primary, replica in settings.REPLICA_DATABASES.items():
            try:
                details = check_replica(primary, replica)
            except Exception as exc:  # a standby that is down leaves its figures out
                logger.warning("metrics: standby %s did not answer: %s", replica, exc)
                up.add_metric([f"replica:{replica}"], 0)
                continue
            up.add_metric([f"replica:{replica}"], 1)
            age = details["last_replay_age_seconds"]
            behind = details["lag_bytes"] > 0
            lag_bytes.add_metric([replica], details["lag_bytes"])
            # An idle primary writes no transaction to replay: a standby that
            # has replayed every byte is not behind, however old its last one.
            lag_seconds.add_metric([replica], float(age or 0.0) if behind else 0.0)
        yield lag_bytes
        yield lag_seconds
