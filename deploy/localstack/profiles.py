"""Stacks by name (dev, test, test-a...): every port of each, and its tunables."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from deploy.localstack.base import ROOT


@dataclasses.dataclass(frozen=True)
class Profile:
    """Ports of one stack; dev and test differ in every one of them."""

    name: str
    nginx: int
    cdn: int
    # nginx's HTTPS (HTTP/2) ports for the API and the CDN, beside the HTTP ones.
    nginx_tls: int
    cdn_tls: int
    apps: tuple[int, int]
    pg_primary: int
    pg_standby: int
    pgbouncer: int
    pgbouncer_replica: int
    redis_primary: int
    redis_replica: int
    # Feed shards (feeds, news, the photo map): a primary and a replica each.
    redis_feeds: tuple[int, ...]
    redis_feed_replicas: tuple[int, ...]
    # Three Sentinels watching every Redis primary (a majority of 2 promotes).
    redis_sentinels: tuple[int, int, int]
    memcached: int
    gearmand: int
    s3: int
    # Local stand-ins for the services this machine cannot reach (sandboxes/):
    # APNS over HTTP/2 with TLS, and the Twitter and Facebook APIs.
    sandbox_apns: int
    sandbox_twitter: int
    sandbox_facebook: int
    # Sentry's ingest API and PagerDuty's Events API v2, played locally too.
    sandbox_sentry: int
    sandbox_pagerduty: int
    # An SMTP server that records the mail it receives (password resets).
    sandbox_smtp: int
    workers: int = 2
    # Followers above which a post is not fanned out (merged in at read time).
    fanout_max_followers: int = 100_000
    # Followers per fan-out job: a bigger list is spread over several jobs.
    fanout_chunk: int = 2_000
    # First retry delay of a failed job, doubling each attempt.
    job_retry_seconds: float = 2.0
    logical_shards: int = 256
    # Default hourly limits per caller (requests, writes). The test stack
    # signs up thousands of accounts from one address, so it lifts them;
    # its rate-limit tests give their client its own low limits.
    rate_limits: tuple[int, int] = (5000, 500)
    # Failed credential checks per window: by address, by account, by app and address.
    credential_limits: tuple[int, int, int] = (100, 10, 20)

    @property
    def var(self) -> Path:
        return ROOT / "var" / self.name


PROFILES = {
    "dev": Profile(
        name="dev",
        nginx=8000,
        cdn=8001,
        nginx_tls=8443,
        cdn_tls=8444,
        apps=(8101, 8102),
        pg_primary=15432,
        pg_standby=15433,
        pgbouncer=16432,
        pgbouncer_replica=16433,
        redis_primary=16379,
        redis_replica=16380,
        redis_feeds=(16361, 16362),
        redis_feed_replicas=(16363, 16364),
        redis_sentinels=(16365, 16366, 16367),
        memcached=11311,
        gearmand=14730,
        s3=19000,
        sandbox_apns=14443,
        sandbox_twitter=14801,
        sandbox_facebook=14802,
        sandbox_sentry=14803,
        sandbox_pagerduty=14804,
        sandbox_smtp=14825,
    ),
    "test": Profile(
        name="test",
        nginx=28000,
        cdn=28001,
        nginx_tls=28443,
        cdn_tls=28444,
        apps=(28101, 28102),
        pg_primary=25432,
        pg_standby=25433,
        pgbouncer=26432,
        pgbouncer_replica=26433,
        redis_primary=26379,
        redis_replica=26380,
        redis_feeds=(26361, 26362),
        redis_feed_replicas=(26363, 26364),
        redis_sentinels=(26365, 26366, 26367),
        memcached=21311,
        gearmand=24730,
        s3=29000,
        sandbox_apns=24443,
        sandbox_twitter=24801,
        sandbox_facebook=24802,
        sandbox_sentry=24803,
        sandbox_pagerduty=24804,
        sandbox_smtp=24825,
        logical_shards=64,
        # Small enough that tests reach the celebrity path and split fan-outs.
        fanout_max_followers=25,
        fanout_chunk=4,
        job_retry_seconds=0.2,
        rate_limits=(1_000_000, 1_000_000),
        # The suite fails some log-ins from one address (the fuzz too): a
        # roomy address limit, and small per-account and per-app ones to test.
        credential_limits=(400, 5, 5),
    ),
}

PORT_FIELDS = tuple(
    field.name
    for field in dataclasses.fields(Profile)
    if field.name
    in {
        "nginx",
        "cdn",
        "nginx_tls",
        "cdn_tls",
        "apps",
        "pg_primary",
        "pg_standby",
        "redis_primary",
        "redis_replica",
        "redis_feeds",
        "redis_feed_replicas",
        "redis_sentinels",
    }
    or field.name.startswith(("pgbouncer", "memcached", "gearmand", "s3", "sandbox_"))
)


def shifted(base: Profile, name: str, offset: int) -> Profile:
    """Return `base` under another name with every port moved by `offset`."""
    ports: dict[str, object] = {}
    for field in PORT_FIELDS:
        value = getattr(base, field)
        ports[field] = tuple(port + offset for port in value) if isinstance(value, tuple) else value + offset
    return dataclasses.replace(base, name=name, **ports)  # type: ignore[arg-type]


# More test stacks beside the first, for a second checkout (or a second
# developer on one machine) running the suite at the same time.
for _index, _suffix in enumerate("abcdef", start=1):
    PROFILES[f"test-{_suffix}"] = shifted(PROFILES["test"], f"test-{_suffix}", 10 * _index)
