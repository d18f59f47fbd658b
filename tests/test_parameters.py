"""Parameter values read as v1 read them (instagram.parameters): pure functions, no stack."""

import pytest

from instagram.errors import APIInvalidParametersError
from instagram.parameters import MAX_DIGITS, count_param, id_param, int_param, is_digits, required

pytestmark = pytest.mark.fast  # pure logic: `make test-fast`


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("0", True),
        ("0042", True),
        ("9" * MAX_DIGITS, True),
        ("9" * (MAX_DIGITS + 1), False),
        ("²", False),
        ("٣", False),
        ("-1", False),
        ("1.5", False),
        ("", False),
        (" 1", False),
    ],
)
def test_is_digits_admits_only_what_int_reads_safely(raw: str, digits: bool) -> None:
    assert is_digits(raw) is digits


def test_count_param_reads_v1_page_sizes() -> None:
    assert count_param({}, default=20, high=100) == 20
    assert count_param({"count": "0"}, default=20, high=100) == 20  # 0 means the default, as v1
    assert count_param({"count": " 7 "}, default=20, high=100) == 7
    assert count_param({"count": "5000"}, default=20, high=100) == 100  # capped, not refused
    with pytest.raises(APIInvalidParametersError, match="count must be a whole number"):
        count_param({"count": "-3"}, default=20, high=100)


def test_id_param_refuses_what_is_no_bigint() -> None:
    assert id_param({}, "max_id") is None
    assert id_param({"max_id": str(2**63 - 1)}, "max_id") == 2**63 - 1
    for bad in (str(2**63), "12abc", "1e5"):
        with pytest.raises(APIInvalidParametersError, match="max_id must be a numeric id"):
            id_param({"max_id": bad}, "max_id")


def test_int_param_names_its_range() -> None:
    assert int_param({"distance": "5000"}, "distance", default=1000, low=1, high=5000) == 5000
    with pytest.raises(APIInvalidParametersError, match="distance must be an integer from 1 to 5000"):
        int_param({"distance": "5001"}, "distance", default=1000, low=1, high=5000)


def test_required_names_the_first_missing_parameter() -> None:
    assert required({"lat": " 48.85 ", "lng": "2.35"}, "lat", "lng") == ["48.85", "2.35"]
    with pytest.raises(APIInvalidParametersError, match="Missing required parameter: lng"):
        required({"lat": "48.85", "lng": "  "}, "lat", "lng")
