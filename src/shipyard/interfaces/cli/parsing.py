"""Parsing of option values shared by commands: ``key=value`` tags and times."""

from __future__ import annotations

import datetime as dt
import re

from shipyard.core.errors import InvalidArgument

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_tags(items: list[str] | None, option: str = "--tag") -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"{option} {item!r}: expected KEY=VALUE")
        tags[key] = value
    return tags


def parse_duration(text: str, option: str) -> dt.timedelta:
    """A duration such as ``90s``, ``15m``, ``1h``, ``2d``, ``1w``."""
    match = _RELATIVE.match(text.strip())
    if not match:
        raise InvalidArgument(f"{option} {text!r}: expected a duration such as 15m, 1h, 2d")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise InvalidArgument(f"{option} {text!r}: must be longer than zero")
    return dt.timedelta(seconds=seconds)


def parse_time(text: str, option: str) -> dt.datetime:
    """An ISO 8601 time, or a duration ago: ``90s``, ``15m``, ``1h``, ``2d``, ``1w``."""
    match = _RELATIVE.match(text.strip())
    if match:
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
        return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidArgument(
            f"{option} {text!r}: expected an ISO time (2026-01-31T12:00:00) or a duration "
            "ago such as 30m, 1h, 2d"
        ) from exc
    return at if at.tzinfo else at.astimezone()
