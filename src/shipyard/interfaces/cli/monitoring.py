"""Monitoring commands: logs query, feedback ingest, monitor run|history, alerts."""

from __future__ import annotations

from pathlib import Path

import typer

from shipyard.core.durations import parse_duration, parse_time
from shipyard.core.errors import InvalidArgument
from shipyard.interfaces.cli.context import services
from shipyard.interfaces.cli.output import console, emit, print_table, styled, when

JSON = typer.Option(False, "--json", help="Print JSON for scripts instead of a table.")

logs_app = typer.Typer(help="The prediction log.", no_args_is_help=True)
feedback_app = typer.Typer(
    help="Ground truth, joined to predictions by request id.", no_args_is_help=True
)
monitor_app = typer.Typer(help="Drift, performance and service monitoring.", no_args_is_help=True)
alerts_app = typer.Typer(help="Alerts raised by monitors.", no_args_is_help=True)

BASE = ["ts", "request_id", "row", "version", "route", "status", "latency_ms"]


@logs_app.command("query")
def logs_query(
    ctx: typer.Context,
    endpoint: str | None = typer.Option(None, "--endpoint", "-e"),
    since: str = typer.Option("1h", help="ISO time or duration ago (15m, 1h, 2d)."),
    until: str | None = typer.Option(None, help="ISO time or duration ago; default now."),
    route: str | None = typer.Option(None, help="primary or shadow."),
    limit: int = typer.Option(20, min=1, help="Newest rows to show."),
    as_json: bool = JSON,
) -> None:
    """Recent predictions (newest first), through DuckDB over the log segments."""
    frame = services(ctx).logs.predictions(
        endpoint,
        parse_time(since, "--since"),
        parse_time(until, "--until") if until else None,
        route=route,
        limit=limit,
    )
    records = frame.to_dict("records")

    def render() -> None:
        shown = [c for c in frame.columns if c in BASE or c.startswith("out.")][:10]
        print_table(f"{len(frame)} rows", shown, [[r.get(c) for c in shown] for r in records])

    emit(records, as_json, render)


@feedback_app.command("ingest")
def feedback_ingest(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="CSV or Parquet with a request id and a label column."),
    id_column: str = typer.Option("request_id", help="Column holding the request id."),
    label_column: str = typer.Option("label", help="Column holding the label."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace labels already recorded (audited)."
    ),
    as_json: bool = JSON,
) -> None:
    """Record ground truth from a file; relabelling a request needs --overwrite."""
    if not path.exists():
        raise InvalidArgument(f"{path} does not exist")
    result = services(ctx).feedback.ingest_file(
        path, id_column=id_column, label_column=label_column, overwrite=overwrite
    )
    emit(
        result.to_dict(),
        as_json,
        lambda: console.print(
            f"accepted {result.accepted} label(s); unknown request ids: {len(result.unknown_ids)}"
            + (f" (e.g. {', '.join(result.unknown_ids[:3])})" if result.unknown_ids else "")
            + (f"; wrong number of labels: {len(result.mismatched)}" if result.mismatched else "")
        ),
    )


@monitor_app.command("run")
def monitor_run(
    ctx: typer.Context,
    endpoint: str,
    window: str = typer.Option("1h", help="How far back to look (15m, 1h, 1d)."),
    record: bool = typer.Option(
        True, "--record/--dry-run", help="Store the results and raise alerts."
    ),
    as_json: bool = JSON,
) -> None:
    """Run the monitor of ENDPOINT once over the last WINDOW."""
    from shipyard.monitoring.monitor import MonitorConfig

    config = MonitorConfig(window=parse_duration(window, "--window"))
    result = services(ctx).monitoring.run(endpoint, config=config, record=record)
    emit(result.to_dict(), as_json, lambda: _render_result(result.to_dict()))


def _render_result(r: dict[str, object]) -> None:
    console.rule(
        styled(
            (str(r["endpoint"]), "bold"), f" — {r['rows']} rows, model {r['model']}/{r['version']}"
        )
    )
    features = r["features"]
    assert isinstance(features, dict)
    if features:
        print_table(
            "data drift",
            ["feature", "drift", "PSI", "p (adj.)", "missing", "reason"],
            [
                (
                    name,
                    styled(("yes", "red")) if f["drift"] else "no",
                    _fmt(f["effect_size"]),
                    _fmt(f["adjusted_p_value"]),
                    _fmt(f["missing_share_window"]),
                    f["reason"],
                )
                for name, f in features.items()
            ],
        )
    dataset = r["dataset"]
    if isinstance(dataset, dict) and dataset:
        verdict = ("DRIFT", "red") if dataset.get("drift") else ("no drift", "green")
        console.print(
            styled(
                "dataset: ",
                verdict,
                f" ({dataset.get('correction')}-corrected, alpha {dataset.get('alpha')})",
            )
        )
    for key in ("performance", "estimated_performance", "computational"):
        value = r.get(key)
        if isinstance(value, dict) and value:
            shown = ", ".join(
                f"{k}={_fmt(v)}" for k, v in value.items() if not isinstance(v, dict | list)
            )
            console.print(f"{key.replace('_', ' ')}: {shown}")
    alerts = r.get("alerts") or []
    for a in alerts:  # type: ignore[attr-defined]
        console.print(styled(("alert", "yellow"), f" {a['text']}"))


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


@monitor_app.command("history")
def monitor_history(
    ctx: typer.Context,
    endpoint: str,
    metric: str | None = typer.Option(
        None, help="A metric name, or a prefix ending in '.' (drift.)."
    ),
    since: str = typer.Option("7d", help="ISO time or duration ago."),
    limit: int = typer.Option(500, min=1),
    as_json: bool = JSON,
) -> None:
    """Stored metric points of ENDPOINT, oldest first (exit 3 for an unknown endpoint)."""
    points = services(ctx).monitoring.history(
        endpoint, metric=metric, since=parse_time(since, "--since"), limit=limit
    )
    emit(
        points,
        as_json,
        lambda: print_table(
            None,
            ["window end", "metric", "value", "version"],
            [(when(p.window_end), p.metric, f"{p.value:.4g}", p.version) for p in points],
        ),
    )


@alerts_app.command("list")
def alerts_list(
    ctx: typer.Context,
    endpoint: str | None = typer.Option(None, "--endpoint", "-e"),
    status: str | None = typer.Option(None, help="open or resolved."),
    as_json: bool = JSON,
) -> None:
    """Alerts, newest first."""
    alerts = services(ctx).monitoring.store.alerts(endpoint=endpoint, status=status)
    emit(
        alerts,
        as_json,
        lambda: print_table(
            None,
            ["id", "endpoint", "severity", "status", "message", "opened", "resolved"],
            [
                (
                    a.id,
                    a.endpoint,
                    a.severity,
                    a.status,
                    a.message,
                    when(a.opened_at),
                    when(a.resolved_at) if a.resolved_at else "",
                )
                for a in alerts
            ],
        ),
    )
