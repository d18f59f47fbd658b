"""Facts read at most once per request: whether a user wrote recently, a viewer's blocks.

A feed page asks "did the viewer write in the last seconds?" (Redis) before
each of its shard reads, and "whom does the viewer block?" (their shard)
for the page and again for its embedded likes and comments. The answer
cannot change during the request but by the request's own writes, so the
first answer is kept for the rest of it: RequestLogMiddleware opens a memo
in each request's own context, and every write to a shard clears it
(sharding.routing.use_shard), so a request that blocks someone and then
reads sees the block. Outside a request (jobs, shells, in-process tests)
there is no memo and every call reads afresh.
"""

from collections.abc import Callable, Hashable
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

_memo: ContextVar[dict[Hashable, Any] | None] = ContextVar("request_memo", default=None)


def open_request_memo() -> None:
    """Start an empty memo in the current context (call once at the start of a request's own context)."""
    _memo.set({})


def forget_request_memo() -> None:
    """Drop what the memo holds: this request just wrote, so later reads read afresh."""
    memo = _memo.get()
    if memo is not None:
        memo.clear()


def remember(key: Hashable, value: object) -> None:
    """Keep `value` for `key` for the rest of the request (read with another fact, in the same query)."""
    memo = _memo.get()
    if memo is not None:
        memo[key] = value


def recalled(key: Hashable) -> Any:
    """Return what `remember` kept for `key` in this request, or None."""
    memo = _memo.get()
    return None if memo is None else memo.get(key)


def memoized(key: Hashable, read: Callable[[], T]) -> T:
    """Return `read()`, or the value an earlier call with `key` got in this request."""
    memo = _memo.get()
    if memo is None:
        return read()
    if key not in memo:
        memo[key] = read()
    return memo[key]  # type: ignore[no-any-return]
