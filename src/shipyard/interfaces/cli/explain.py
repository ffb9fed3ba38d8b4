"""``shipyard explain REF FILE``: why a registered model predicts what it does, per row."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from shipyard.interfaces.cli.context import services
from shipyard.interfaces.cli.output import console, emit

TOP = 5
"""Columns shown per row for people (largest |attribution| first); --json has them all."""


def explain(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="Model reference: name@alias, name/3, models:/..."),
    input_path: Path = typer.Argument(..., help="CSV, JSON (records) or Parquet file of rows."),
    target: str | None = typer.Option(
        None, "--class", help="The class whose output is explained (default: positive/predicted)."
    ),
    allow_pickle: bool = typer.Option(False, "--allow-pickle", help="Allow pickle-based packages."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Attribute each row's prediction to the model's input columns (base value + attributions)."""
    from shipyard.interfaces.cli.files import read_table

    data = read_table(input_path)
    model = services(ctx).registry.load(ref, allow_pickle=allow_pickle or None)
    explanation = model.explain(data, target=_target(target, model.classes))
    payload = {"model": ref, **explanation.to_dict()}
    emit(payload, as_json, lambda: _render(payload))


def _target(raw: str | None, classes: tuple[object, ...] | None) -> object | None:
    if raw is None or classes is None:
        return raw
    return next((c for c in classes if str(c) == raw), raw)


def _render(payload: dict[str, object]) -> None:
    exact = "exact" if payload["exact"] else "approximate"
    console.print(
        f"{payload['model']}: {payload['method']} ({exact}), output = {payload['output']}",
        markup=False,
        highlight=False,
    )
    if not payload["exact"]:
        console.print(str(payload["note"]), markup=False, highlight=False)
    rows = payload["explanations"]
    assert isinstance(rows, list)
    for i, row in enumerate(rows):
        explained = f", class {row['explained_class']}" if "explained_class" in row else ""
        table = Table(
            title=Text(
                f"row {i}: prediction {row['prediction']}{explained}; "
                f"base {row['base_value']:.4g} -> output {row['output_value']:.4g}"
            ),
            header_style="bold",
        )
        table.add_column("column")
        table.add_column("attribution", justify="right")
        ranked = sorted(row["attributions"].items(), key=lambda kv: -abs(kv[1]))
        for name, value in ranked[:TOP]:
            table.add_row(Text(name), f"{value:+.4g}")
        if len(ranked) > TOP:
            rest = sum(v for _, v in ranked[TOP:])
            table.add_row(f"({len(ranked) - TOP} others)", f"{rest:+.4g}")
        console.print(table)
