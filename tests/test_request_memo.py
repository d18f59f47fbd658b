"""instagram.request_memo: a fact is read once per request, afresh after a write, every time outside one.

Through the stack: tests/photos/test_request_memo.py.
"""

import contextvars

import pytest

from instagram.request_memo import forget_request_memo, memoized, open_request_memo, recalled, remember

pytestmark = pytest.mark.fast  # pure logic: `make test-fast`


def test_the_memo_reads_once_per_request_and_not_at_all_outside_one() -> None:
    reads: list[str] = []

    def read() -> int:
        reads.append("read")
        return len(reads)

    assert [memoized("fact", read), memoized("fact", read)] == [1, 2]  # no request: every call reads

    def one_request() -> list[int]:
        open_request_memo()
        first = [memoized("fact", read), memoized("fact", read)]
        forget_request_memo()  # what a write to a shard does
        return [*first, memoized("fact", read)]

    assert contextvars.Context().run(one_request) == [3, 3, 4]
    assert contextvars.Context().run(one_request) == [5, 5, 6]  # the next request starts empty


def test_a_remembered_fact_is_recalled_in_its_request_only() -> None:
    def one_request() -> list[object]:
        open_request_memo()
        before = recalled("liked")
        remember("liked", {1, 2})
        return [before, recalled("liked")]

    assert recalled("liked") is None  # no request: nothing kept
    remember("liked", {3})
    assert recalled("liked") is None
    assert contextvars.Context().run(one_request) == [None, {1, 2}]
