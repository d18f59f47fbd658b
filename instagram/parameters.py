"""Parameter values read as the v1 API reads them: pure functions of text, no request.

Views and domain code alike use them; each raises APIInvalidParametersError
naming the parameter.
"""

from instagram.errors import APIInvalidParametersError


def required(values: dict[str, str], *names: str) -> list[str]:
    """Return the values of `names`, or raise naming the first one missing."""
    missing = [name for name in names if not values.get(name, "").strip()]
    if missing:
        raise APIInvalidParametersError(f"Missing required parameter: {missing[0]}.")
    return [values[name].strip() for name in names]


# Longer than any int64 (19 digits) with room for leading zeros; checked before int(), which
# raises ValueError past 4,300 digits and is quadratic in the length before that.
MAX_DIGITS = 32


def is_digits(raw: str) -> bool:
    """Say whether `raw` is ASCII digits only, at most MAX_DIGITS of them, so int(raw) is safe.

    str.isdigit() alone also takes "²" (int() fails) and "٣" (3).
    """
    return len(raw) <= MAX_DIGITS and raw.isascii() and raw.isdigit()


def int_param(values: dict[str, str], name: str, *, default: int, low: int, high: int) -> int:
    """Return the integer parameter `name` (default when absent), or raise naming the problem."""
    raw = values.get(name, "").strip()
    if not raw:
        return default
    if not is_digits(raw) or not low <= int(raw) <= high:
        raise APIInvalidParametersError(f"{name} must be an integer from {low} to {high}.")
    return int(raw)


def count_param(values: dict[str, str], *, default: int, high: int) -> int:
    """Return the page size `count`: absent or 0 means `default`, above `high` means `high` (as v1 did)."""
    raw = values.get("count", "").strip()
    if not raw:
        return default
    if not is_digits(raw):
        raise APIInvalidParametersError("count must be a whole number.")
    count = int(raw)
    return default if count == 0 else min(count, high)


def id_param(values: dict[str, str], name: str) -> int | None:
    """Return the ID-valued parameter `name` (a cursor, max_id...), None when absent."""
    raw = values.get(name, "").strip()
    if not raw:
        return None
    if not is_digits(raw) or int(raw) >= 2**63:
        raise APIInvalidParametersError(f"{name} must be a numeric id.")
    return int(raw)
