"""Times in the registry database: integer microseconds since the Unix epoch (UTC), converted exactly.

Write transactions read the clock only once they hold their lock (``audit.event_time``), so the
times of events grow in commit order and "what was true at T" has one answer.
"""

from __future__ import annotations

import datetime as dt
import time

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_US = dt.timedelta(microseconds=1)


def now_us() -> int:
    return time.time_ns() // 1000


def to_datetime(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=us)


def to_us(at: dt.datetime) -> int:
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return (at - EPOCH) // _ONE_US


def after(previous: int | None) -> int:
    """Now, but strictly later than ``previous`` (a clock that stepped back never reorders events)."""
    at = now_us()
    return at if previous is None or at > previous else previous + 1
