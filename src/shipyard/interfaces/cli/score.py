"""``shipyard score``: score files in bulk with a registered model version."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import typer

from shipyard.core.errors import InvalidArgument
from shipyard.interfaces.cli.context import services
from shipyard.interfaces.cli.output import console, emit, err_console


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    """A progress callback: a bar with rows, rows/s and ETA on a terminal, nothing otherwise."""
    if not enabled or not err_console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("scoring"),
        BarColumn(),
        TextColumn("{task.fields[rows]:,} rows, {task.fields[rate]:,.0f} rows/s"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    )
    task = bar.add_task("score", total=1000, rows=0, rate=0.0)
    started = time.perf_counter()

    def update(rows: int, fraction: float | None) -> None:
        rate = rows / max(time.perf_counter() - started, 1e-9)
        bar.update(
            task, completed=int(1000 * (fraction or 0.0)), rows=rows, rate=rate, refresh=False
        )

    with bar:
        yield update


def score(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="Model reference: name@alias, name/3, models:/..."),
    inputs: list[str] = typer.Argument(
        ..., help="Input files (.parquet, .csv, .jsonl): paths or fsspec URLs (s3://...)."
    ),
    output: str = typer.Option(
        ..., "--output", "-o", help="Output file (.parquet, .csv, .jsonl), path or URL."
    ),
    engine: str = typer.Option("local", "--engine", help="local, or ray (Ray Data)."),
    batch_size: int = typer.Option(65_536, "--batch-size", min=1, help="Rows per chunk."),
    columns: str | None = typer.Option(
        None, "--columns", help="Comma-separated input columns to keep (default: all)."
    ),
    proba: bool = typer.Option(False, "--proba", help="Add one probability column per class."),
    on_error: str = typer.Option(
        "fail", "--on-error", help="fail on the first bad row, or skip: set bad rows aside."
    ),
    rejects: str | None = typer.Option(
        None, "--rejects", help="Where skipped rows go (default: OUTPUT with .rejects)."
    ),
    id_column: str | None = typer.Option(
        None, "--id-column", help="Key column logged as request id (join labels by it)."
    ),
    log: bool = typer.Option(True, "--log/--no-log", help="Write rows to the prediction log."),
    ray_address: str | None = typer.Option(
        None, "--address", help="Ray cluster (auto, ray://host:10001); default: a local one."
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Ray actors holding the model (default: CPUs)."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Score files with a model version; output rows keep the input order."""
    from shipyard.serving.scoring import ScoreOptions

    if engine not in ("local", "ray"):
        raise InvalidArgument(f"--engine must be local or ray, got {engine!r}")
    if on_error not in ("fail", "skip"):
        raise InvalidArgument(f"--on-error must be fail or skip, got {on_error!r}")
    kept = tuple(c.strip() for c in columns.split(",") if c.strip()) if columns else None
    options = ScoreOptions(
        batch_size=batch_size,
        columns=kept,
        proba=proba,
        on_error=on_error,  # type: ignore[arg-type]
        id_column=id_column,
    )
    with _progress(not as_json) as progress:
        result = (
            services(ctx)
            .batch_scoring()
            .score(
                ref,
                inputs,
                output,
                options,
                engine=engine,  # type: ignore[arg-type]
                rejects=rejects,
                log=log,
                progress=progress,
                ray_address=ray_address,
                ray_workers=workers,
            )
        )

    def render() -> None:
        console.print(
            f"scored {result.rows:,} rows with {result.version} ({result.engine}) in "
            f"{result.seconds:.1f} s ({result.rows_per_second:,.0f} rows/s) -> {result.output}",
            markup=False,
            highlight=False,
        )
        if result.rejected:
            console.print(
                f"{result.rejected:,} bad rows set aside in {result.rejects}",
                markup=False,
                highlight=False,
            )

    emit(result.to_dict(), as_json, render)
