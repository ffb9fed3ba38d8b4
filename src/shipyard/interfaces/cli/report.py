"""``shipyard report``: an endpoint's monitoring report as one self-contained HTML file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from shipyard.core.durations import parse_duration, parse_time
from shipyard.core.errors import InvalidArgument
from shipyard.interfaces.cli.context import services
from shipyard.interfaces.cli.output import console, styled


def report(
    ctx: typer.Context,
    endpoint: str | None = typer.Argument(
        None, help="The endpoint to report on (or give --reference and --current)."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="The HTML file to write."),
    reference: str | None = typer.Option(
        None, "--reference", help="A .parquet/.csv file or model reference (with --current)."
    ),
    current: str | None = typer.Option(
        None, "--current", help="A .parquet/.csv file to report on against --reference."
    ),
    window: str = typer.Option("1h", help="The current window, ending now (15m, 1h, 1d)."),
    since: str = typer.Option("7d", help="Start of the history: ISO time or duration ago."),
    json_out: Path | None = typer.Option(
        None, "--json-out", help="Also write the report's data to this JSON file."
    ),
) -> None:
    """Write the monitoring report of ENDPOINT: drift per feature with reference vs current
    distributions, performance, latency, errors and alerts over time. With --reference and
    --current instead, the drift report of a file (as `shipyard drift` computes it). The HTML file
    is self-contained (no script, no network access) and stays under 5 MB."""
    from shipyard.monitoring.report import (
        ReportData,
        build_file_report,
        build_report,
        render_html,
        render_json,
    )

    if (reference is None) != (current is None):
        raise InvalidArgument("--reference and --current go together")
    if (endpoint is None) == (reference is None):
        raise InvalidArgument("give an ENDPOINT, or --reference and --current (not both)")
    targets = [output] if json_out is None else [output, json_out]
    for path in targets:
        _check_target(path)
    data: ReportData
    if reference is not None and current is not None:
        from shipyard.interfaces.cli.drift import run_drift

        data = build_file_report(run_drift(ctx, reference, current, None, None, progress=True))
    else:
        assert endpoint is not None
        length = parse_duration(window, "--window")
        history = parse_time(since, "--since")
        data = build_report(
            services(ctx).monitoring, endpoint, window=length, history_since=history
        )
    html = render_html(data)
    _write(output, html)
    drifted = sum(f.drift for f in data.features)
    console.print(
        styled(
            (data.endpoint, "bold"),
            f": {data.rows:,} rows, {drifted} of {data.features_total} features drifted",
        )
    )
    console.print(f"report  {output.resolve()}  ({len(html.encode()) / 1024:,.0f} KB)")
    if json_out is not None:
        _write(json_out, json.dumps(render_json(data), indent=1, allow_nan=False))
        console.print(f"data    {json_out.resolve()}")


def _check_target(path: Path) -> None:
    if path.is_dir():
        raise InvalidArgument(f"{path} is a directory; give a file name such as report.html")
    if not path.parent.is_dir():
        raise InvalidArgument(f"cannot write {path}: directory {path.parent} does not exist")


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a reader never sees half a report)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise InvalidArgument(f"cannot write {path}: {exc.strerror or exc}") from exc
