"""The arithmetic behind the benchmarks' CPU columns and ceilings (bench/cputime.py)."""

import pytest

from bench import cputime


def test_per_request_divides_each_program_and_adds_a_total() -> None:
    spent = {"app": 2.0, "postgres": 0.5, "redis": 0.0, "nginx": 0.25}
    assert cputime.per_request(spent, 1000) == {"app": 2.0, "postgres": 0.5, "nginx": 0.25, "total": 2.75}
    assert cputime.per_request(spent, 0) == {}
    assert cputime.per_request({}, 10) == {}


def test_median_per_request_takes_each_program_median_and_counts_a_missing_one_as_zero() -> None:
    runs = [
        {"app": 1.0, "total": 1.5},
        {"app": 3.0, "redis": 0.3, "total": 3.6},
        {"app": 2.0, "total": 2.2},
        {},
    ]
    assert cputime.median_per_request(runs) == {"app": 2.0, "redis": 0.0, "total": 2.2}


def test_ceiling_is_ping_over_pings_python_and_the_requests_servers() -> None:
    ping = {"app": 1.5, "nginx": 0.1, "redis": 0.1, "total": 1.7}
    like = {
        "app": 9.0,
        "workers": 8.0,
        "postgres": 5.0,
        "gearmand": 2.0,
        "nginx": 0.1,
        "redis": 1.2,
        "total": 25.3,
    }
    # Python the like cannot shed below /ping's: 1.5 ms; its servers: 8.3 ms.
    assert cputime.servers_ms(like) == pytest.approx(8.3)
    assert cputime.ceiling(ping, like) == round(1.7 / (1.5 + 8.3), 3)
    # A request that costs the servers what /ping does could reach /ping itself.
    assert cputime.ceiling(ping, {"app": 4.0, "nginx": 0.1, "redis": 0.1, "total": 4.2}) == 1.0
    assert cputime.ceiling({}, like) is None
    assert cputime.ceiling(ping, {}) is None
