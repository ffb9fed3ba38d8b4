"""The one duration parser: units, bounds, and one-line errors naming the field."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import BaseModel, ValidationError

from shipyard.core.durations import (
    MAX_DURATION,
    Seconds,
    duration_seconds,
    parse_duration,
    parse_time,
)
from shipyard.core.errors import InvalidArgument


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("90s", 90),
        ("15m", 900),
        ("1.5h", 5400),
        ("2d", 172800),
        ("1w", 604800),
        (" 30 s ", 30),
        ("45", 45),
        (12, 12),
        (0.25, 0.25),
        (dt.timedelta(minutes=2), 120),
        ("3660d", MAX_DURATION.total_seconds()),
    ],
)
def test_units_and_bare_seconds(text: str | float | dt.timedelta, seconds: float) -> None:
    assert parse_duration(text, "--window") == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("forever", "--window: expected a duration such as 30s, 15m, 1h, 2d, got 'forever'"),
        ("99999999999w", "--window: must be at most 3660d, got '99999999999w'"),
        ("3661d", "--window: must be at most 3660d"),
        (1e300, "--window: must be at most 3660d"),
        (float("inf"), "--window: must be at most 3660d"),
        (float("nan"), "--window: must be longer than zero"),
        ("0s", "--window: must be longer than zero, got '0s'"),
        (-5, "--window: must be longer than zero, got -5"),
        ("-5m", "--window: expected a duration"),
        (True, "--window: expected a duration"),
        ("1y", "--window: expected a duration"),
    ],
)
def test_bad_durations_are_one_line_naming_the_field(value: object, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_duration(value, "--window")  # type: ignore[arg-type]
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_zero_is_allowed_only_when_asked() -> None:
    assert duration_seconds("0s", "keep_warm", allow_zero=True) == 0
    with pytest.raises(InvalidArgument, match="keep_warm: must be longer than zero"):
        duration_seconds("0s", "keep_warm")


def test_times_are_iso_or_a_bounded_duration_ago() -> None:
    now = dt.datetime(2026, 1, 31, 12, tzinfo=dt.UTC)
    assert parse_time("2h", "--since", now=now) == now - dt.timedelta(hours=2)
    assert parse_time("2026-01-30T00:00:00+00:00", "--since") == dt.datetime(
        2026, 1, 30, tzinfo=dt.UTC
    )
    local = parse_time("2026-01-30T00:00:00", "--since")
    assert local.tzinfo is not None
    for bad, message in (
        ("999999999d", "--at: must be at most 3660d"),
        ("yesterday", "--at: expected an ISO time"),
        ("0001-01-01T00:00:00", "--at: expected an ISO time"),
        ("9999-12-31T23:59:59+00:00", "--at: expected an ISO time"),
        ("2026", "--at: expected an ISO time"),
    ):
        with pytest.raises(InvalidArgument) as info:
            parse_time(bad, "--at")
        assert str(info.value).startswith(message)


def test_the_pydantic_type_uses_the_same_rule() -> None:
    class Config(BaseModel):
        every: Seconds

    assert Config(every="5m").every == 300  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="must be at most 3660d"):
        Config(every="99999999999w")  # type: ignore[arg-type]
