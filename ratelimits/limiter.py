"""Hourly rate limits per token, per client and per address, counted in Redis.

Each limit is a sliding hour, approximated the way large APIs do it: the
count of the current fixed hour plus the previous hour's count weighted by
how much of it still lies inside the sliding hour. Two small integers per
caller and limit, checked and incremented atomically by one Lua script, so
concurrent requests on any app server never overshoot.
"""

import logging
import time
from dataclasses import dataclass

import redis
from django.conf import settings
from django.http import HttpRequest
from redis.commands.core import Script

from instagram import rediskeys
from instagram.errors import APIError
from instagram.redis_client import redis_primary
from sharding.routing import remember_recent_write

logger = logging.getLogger(__name__)

WINDOW = 3600

# KEYS: (current, previous) window keys for each limit, then, when their
# count is odd, one more key whose existence is asked in the same call (the
# caller's read-your-writes pin: sharding.routing.remember_recent_write);
# ARGV: weight of the previous window, then each limit. Counts every limit
# only if all pass; returns {1, what each leaves, (the key exists)} or
# {0, the limit exceeded, its use}.
_SCRIPT = """
local weight = tonumber(ARGV[1])
local limits = math.floor(#KEYS / 2)
local used = {}
for i = 1, limits do
  local current = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local previous = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
  used[i] = current + math.floor(previous * weight)
  if used[i] >= tonumber(ARGV[i + 1]) then
    return {0, i, used[i]}
  end
end
local remaining = {1}
for i = 1, limits do
  redis.call('INCR', KEYS[2 * i - 1])
  redis.call('EXPIRE', KEYS[2 * i - 1], 2 * tonumber(ARGV[#ARGV]))
  table.insert(remaining, tonumber(ARGV[i + 1]) - used[i] - 1)
end
if #KEYS % 2 == 1 then
  table.insert(remaining, redis.call('EXISTS', KEYS[#KEYS]))
end
return remaining
"""


_registered: dict[int, Script] = {}


def _script(client: redis.Redis) -> Script:
    """The script registered with `client`: sent by its SHA1 (EVALSHA), loaded again only if Redis lost it."""
    script = _registered.get(id(client))
    if script is None or script.registered_client is not client:
        script = _registered[id(client)] = client.register_script(_SCRIPT)
    return script


class OAuthRateLimitException(APIError):
    status = 429
    error_type = "OAuthRateLimitException"


@dataclass(frozen=True)
class Limits:
    requests_per_hour: int
    writes_per_hour: int


@dataclass(frozen=True)
class Usage:
    """What the X-Ratelimit-* headers report: the hourly limit and what is left of it."""

    limit: int
    remaining: int


def default_limits() -> Limits:
    return Limits(
        requests_per_hour=settings.RATE_LIMIT_REQUESTS_PER_HOUR,
        writes_per_hour=settings.RATE_LIMIT_WRITES_PER_HOUR,
    )


def is_write(request: HttpRequest) -> bool:
    return request.method not in {"GET", "HEAD", "OPTIONS"}


def client_address(request: HttpRequest) -> str:
    """Return the caller's address as nginx saw it (the last X-Forwarded-For hop)."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    return hops[-1] if hops else str(request.META.get("REMOTE_ADDR", "unknown"))


def check_rate_limit(
    request: HttpRequest, *, caller: str, limits: Limits, user_id: int | None = None
) -> Usage | None:
    """Count this request against `caller`'s limits; raise OAuthRateLimitException past one.

    Returns the hourly usage for the headers, or None when Redis cannot be
    reached: then the request goes through (a limit is not worth an outage).
    With `user_id` (a token's user), the same call asks whether that user
    wrote within the read-your-writes window, and the request keeps the
    answer for its shard reads (one Redis round trip fewer on every page).
    """
    now = time.time()
    window = int(now // WINDOW)
    weight = 1 - (now % WINDOW) / WINDOW
    checks = [("all", limits.requests_per_hour)]
    if is_write(request):
        checks.append(("write", limits.writes_per_hour))
    keys: list[str] = []
    for kind, _ in checks:
        keys += [rediskeys.rate_limit(kind, caller, window), rediskeys.rate_limit(kind, caller, window - 1)]
    if user_id is not None:
        keys.append(rediskeys.recent_writer(user_id))
    try:
        client = redis_primary()
        result = _script(client)(
            keys=keys, args=[f"{weight:.6f}", *(n for _, n in checks), WINDOW], client=client
        )
    except redis.RedisError as exc:
        logger.warning("rate limit not checked, Redis unreachable: %s", exc)
        return None
    allowed, *rest = (int(x) for x in result)
    if not allowed:
        which, used = rest
        kind, limit = checks[which - 1]
        request.rate_limit = Usage(limit=limits.requests_per_hour, remaining=0)  # type: ignore[attr-defined]
        what = "write requests" if kind == "write" else "requests"
        raise OAuthRateLimitException(
            f"The maximum number of {what} per hour has been exceeded: "
            f"{used} of the {limit} allowed in the last hour."
        )
    if user_id is not None:
        remember_recent_write(user_id, wrote=bool(rest[-1]))
    usage = Usage(limit=limits.requests_per_hour, remaining=max(rest[0], 0))
    request.rate_limit = usage  # type: ignore[attr-defined]
    return usage
