"""Rendering for people (Rich tables) and scripts (``--json``).

Text from outside (names, tags, reasons, request ids, log values) is data, never markup: both
consoles interpret no markup and no emoji codes, so every string prints as it is. Our own styling
is built with ``styled`` from (text, style) pieces, never by formatting data into markup.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from shipyard.interfaces.serialize import plain

console = Console(markup=False, emoji=False)
err_console = Console(stderr=True, markup=False, emoji=False, highlight=False)


def styled(*parts: str | tuple[str, str]) -> Text:
    """A line of our styling around data: ``styled(("churn", "bold"), " rollback")``; every piece
    is literal text."""
    return Text.assemble(*parts)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(plain(value), indent=2, default=str) + "\n")


def when(at: dt.datetime) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _cell(value: Any) -> Text:
    if isinstance(value, Text):
        return value
    return Text("" if value is None else str(value))


def print_table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> None:
    """A table; cells are literal text (pass a ``Text`` for a styled cell)."""
    table = Table(title=None if title is None else Text(title), header_style="bold")
    for col in columns:
        table.add_column(Text(col))
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    console.print(table)


def emit(value: Any, as_json: bool, render: Callable[[], None]) -> None:
    if as_json:
        print_json(value)
    else:
        render()


def kv(items: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in items.items())
