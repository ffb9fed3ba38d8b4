"""Parsing of option values shared by commands: ``key=value`` tags (durations and times are
parsed by ``shipyard.core.durations``, like everywhere else)."""

from __future__ import annotations

from shipyard.core.errors import InvalidArgument


def parse_tags(items: list[str] | None, option: str = "--tag") -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"{option} {item!r}: expected KEY=VALUE")
        tags[key] = value
    return tags
