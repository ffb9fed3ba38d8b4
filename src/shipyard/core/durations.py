"""Durations and times, parsed and bounded in one place.

Every duration a user writes (a CLI option, the project file, a setting, an API body) goes through
``parse_duration``: ``500ms``, ``90s``, ``15m``, ``1h``, ``2d``, ``1w``, or a bare number of
seconds. It is bounded (``MAX_DURATION``), so no window or interval can overflow a date or a
timer later, and a bad one is refused with a message naming the field. ``parse_time`` reads an ISO
time or a duration ago. ``Seconds`` is the same rule as a pydantic field type; it is built on
first use, so parsing a CLI option does not import pydantic.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Final

from shipyard.core.errors import InvalidArgument

UNITS: Final[Mapping[str, float]] = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
"""Seconds per unit."""

MAX_DURATION: Final = dt.timedelta(days=3660)
"""The longest duration accepted anywhere: ten years (a window, an interval, a time ago)."""

EXAMPLES: Final = "30s, 15m, 1h, 2d"

_EARLIEST: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_LATEST: Final = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)

_PATTERN: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")


def _seconds(value: object, *, allow_zero: bool) -> float:
    """Seconds in ``value``, or ValueError with the reason (without the field's name)."""
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        match = _PATTERN.match(value)
        if not match:
            raise ValueError(f"expected a duration such as {EXAMPLES}, got {value!r}")
        seconds = float(match.group(1)) * UNITS[match.group(2) or "s"]
    else:
        raise ValueError(f"expected a duration such as {EXAMPLES}, got {value!r}")
    if math.isnan(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        raise ValueError(
            f"must be {'zero or more' if allow_zero else 'longer than zero'}, got {value!r}"
        )
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"must be at most {MAX_DURATION.days}d, got {value!r}")
    return seconds


def parse_duration(
    value: str | float | dt.timedelta, field: str, *, allow_zero: bool = False
) -> dt.timedelta:
    """``value`` as a bounded duration; ``InvalidArgument`` naming ``field`` otherwise."""
    try:
        return dt.timedelta(seconds=_seconds(value, allow_zero=allow_zero))
    except ValueError as exc:
        raise InvalidArgument(f"{field}: {exc}") from None


def duration_seconds(
    value: str | float | dt.timedelta, field: str, *, allow_zero: bool = False
) -> float:
    """``parse_duration`` in seconds, for APIs that take float seconds."""
    return parse_duration(value, field, allow_zero=allow_zero).total_seconds()


def parse_time(text: str, field: str, *, now: dt.datetime | None = None) -> dt.datetime:
    """An ISO 8601 time (local time if it has no offset), or a duration ago (``2h``)."""
    if _PATTERN.match(text) and not text.strip().replace(".", "", 1).isdigit():
        return (now or dt.datetime.now(dt.UTC)) - parse_duration(text, field, allow_zero=True)
    try:
        at = dt.datetime.fromisoformat(text)
        # both ends of the calendar are refused here, not by an overflow in a later subtraction
        at = (at if at.tzinfo else at.astimezone()).astimezone(dt.UTC)
        if not _EARLIEST <= at <= _LATEST:
            raise ValueError(text)
    except (ValueError, OverflowError):
        raise InvalidArgument(
            f"{field}: expected an ISO time (2026-01-31T12:00:00) or a duration ago such as "
            f"{EXAMPLES}, got {text!r}"
        ) from None
    return at


def _pydantic_seconds(value: object) -> float:
    return _seconds(value, allow_zero=False)


if TYPE_CHECKING:
    from pydantic import BeforeValidator

    Seconds = Annotated[float, BeforeValidator(_pydantic_seconds)]
    """A pydantic field holding a positive, bounded duration in seconds (``"5m"`` -> 300.0)."""


def __getattr__(name: str) -> Any:
    if name == "Seconds":  # built when a settings or project model first declares a field with it
        from pydantic import BeforeValidator

        seconds = Annotated[float, BeforeValidator(_pydantic_seconds)]
        globals()["Seconds"] = seconds
        return seconds
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "EXAMPLES",
    "MAX_DURATION",
    "UNITS",
    "Seconds",
    "duration_seconds",
    "parse_duration",
    "parse_time",
]
