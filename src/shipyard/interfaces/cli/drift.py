"""``shipyard drift``: a batch of data against a reference, without a server; exits like ``grep``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.table import Table
from rich.text import Text

from shipyard.interfaces.cli.context import services
from shipyard.interfaces.cli.output import console, emit, err_console

if TYPE_CHECKING:
    from shipyard.monitoring.file_drift import DriftReport, Progress
    from shipyard.registry.service import RegistryService

EXIT_NO_DRIFT, EXIT_DRIFT = 0, 1


def drift(
    ctx: typer.Context,
    reference: str = typer.Argument(
        ...,
        help="A .parquet or .csv file, or a model reference (churn@champion) whose package "
        "profile is the reference.",
    ),
    current: str = typer.Argument(
        ..., help="The .parquet or .csv file to check: a local path or any fsspec URL (s3://...)."
    ),
    columns: str | None = typer.Option(
        None, "--columns", help="Only these columns, comma-separated (a,b,c)."
    ),
    stattest: str | None = typer.Option(
        None,
        "--stattest",
        help="The significance test instead of ks/chisquare (one with a p-value).",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print JSON for scripts instead of a table."
    ),
) -> None:
    """Check CURRENT for drift against REFERENCE: the statistics and verdict of `shipyard monitor
    run`. Exit code 0: no drift, 1: drift, 2: bad input (one line on stderr)."""
    report = run_drift(ctx, reference, current, columns, stattest, progress=not as_json)
    emit(report.to_dict(), as_json, lambda: render(report))
    raise typer.Exit(EXIT_DRIFT if report.drift else EXIT_NO_DRIFT)


def run_drift(
    ctx: typer.Context,
    reference: str,
    current: str,
    columns: str | None,
    stattest: str | None,
    *,
    progress: bool,
) -> DriftReport:
    """The one service call, shared with ``shipyard report --reference --current``."""
    from shipyard.monitoring.file_drift import drift as file_drift
    from shipyard.monitoring.file_drift import drift_config

    names = [c.strip() for c in columns.split(",") if c.strip()] if columns else None

    def registry() -> RegistryService:
        return services(ctx).registry

    with _progress_bar(progress and console.is_terminal and err_console.is_terminal) as update:
        return file_drift(
            reference,
            current,
            registry=registry,
            columns=names,
            config=drift_config(stattest),
            progress=update,
        )


@contextmanager
def _progress_bar(shown: bool) -> Iterator[Progress | None]:
    if not shown:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("reading"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("rows", total=None)

        def update(rows: int, total: int | None) -> None:
            bar.update(task, completed=rows, total=total)

        yield update


def render(report: DriftReport) -> None:
    table = Table(title=None, header_style="bold")
    for title in ("column", "kind", "drift", "statistic", "p (adj.)", "PSI", "missing", "reason"):
        table.add_column(title)
    for name, col in report.result.columns.items():
        primary = next(iter(col.results.values()), None)
        table.add_row(
            Text(name),
            col.kind,
            Text("yes", style="red") if col.drift else Text("no"),
            _fmt(None if primary is None else primary.statistic),
            _fmt(col.adjusted_p_value),
            _fmt(col.effect_size),
            _fmt(col.missing_share_window),
            Text(col.reason),
        )
    console.print(table)
    verdict = Text("DRIFT", style="bold red") if report.drift else Text("no drift", style="green")
    line = Text.assemble(
        "dataset: ",
        verdict,
        f" — {len(report.drifted)} of {len(report.result.columns)} columns drifted, "
        f"{report.rows:,} rows ({report.result.correction}-corrected, alpha {report.result.alpha:g})",
    )
    console.print(line)
    if report.unexpected_columns:
        shown = ", ".join(report.unexpected_columns[:10])
        console.print(Text(f"not in the reference (not tested): {shown}"))


def _fmt(value: float | None) -> str:
    return "" if value is None or value != value else f"{value:.4g}"
