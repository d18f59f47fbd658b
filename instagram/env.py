"""Typed readers for the environment variables the settings are built from.

Every name read goes into `READ`, so a test can check that docker-compose.yml
and `.env.example` set exactly what the settings use.
"""

import os

READ: dict[str, str] = {}


def env_str(name: str, default: str) -> str:
    """Return the variable `name`, or `default` when it is unset or empty."""
    READ[name] = default
    return os.environ.get(name) or default


def env_int(name: str, default: int) -> int:
    value = env_str(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {value!r}") from None


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name, "1" if default else "0").lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"environment variable {name} must be a boolean, got {value!r}")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def env_float(name: str, default: float) -> float:
    value = env_str(name, str(default))
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be a number, got {value!r}") from None
