"""Rendering for people (Rich tables) and scripts (``--json``)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from shipyard.interfaces.serialize import plain

console = Console()
err_console = Console(stderr=True)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(plain(value), indent=2, default=str) + "\n")


def when(at: dt.datetime) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def print_table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> None:
    table = Table(title=title, header_style="bold")
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


def emit(value: Any, as_json: bool, render: Callable[[], None]) -> None:
    if as_json:
        print_json(value)
    else:
        render()


def kv(items: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in items.items())
