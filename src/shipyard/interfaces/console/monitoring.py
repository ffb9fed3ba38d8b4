"""An endpoint's monitoring: drift per feature over time, one feature against its reference, model
quality (realised and estimated), label coverage, latency and errors.

Everything is read from the metric points the monitor stored per window, and the reference profile
from the served version's package; the prediction log is never read for a page.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request

from shipyard.app import Services
from shipyard.core.errors import NotFound
from shipyard.registry.entities import MetricPoint

WINDOWS = 24
"""Monitor windows shown in the heatmap."""
SERIES_POINTS = 96
MAX_FEATURES = 40
PROFILE_FILE = "profile.json"


def chart(title: str, series: dict[str, Sequence[MetricPoint]], unit: str = "") -> dict[str, Any]:
    """uPlot's data: one x axis (window ends, epoch seconds) shared by every series."""
    xs = sorted({p.window_end.timestamp() for pts in series.values() for p in pts})
    index = {x: i for i, x in enumerate(xs)}
    out: list[dict[str, Any]] = []
    for label, pts in series.items():
        values: list[float | None] = [None] * len(xs)
        for p in pts:
            values[index[p.window_end.timestamp()]] = p.value
        out.append({"label": label, "values": values})
    return {"title": title, "unit": unit, "x": xs, "series": out, "empty": not xs}


def heatmap(
    series: dict[tuple[str, str], list[MetricPoint]], endpoint: str, columns: list[str]
) -> dict[str, Any]:
    """Windows x features: each cell the feature's PSI in that window, and its drift flag."""
    windows: set[float] = set()
    cells: dict[str, dict[float, tuple[float | None, bool]]] = {}
    for col in columns:
        psi = {p.window_end: p.value for p in series.get((endpoint, f"feature.{col}.psi"), [])}
        row = {}
        for p in series.get((endpoint, f"feature.{col}.drift"), []):
            row[p.window_end.timestamp()] = (psi.get(p.window_end), p.value >= 1)
            windows.add(p.window_end.timestamp())
        cells[col] = row
    xs = sorted(windows)[-WINDOWS:]
    rows = []
    for col in columns:
        line = []
        for x in xs:
            value, drifted = cells[col].get(x, (None, False))
            level = 0 if value is None else min(4, int(value / 0.1))  # PSI bands of 0.1
            line.append(
                {"value": value, "drifted": drifted, "level": level, "known": x in cells[col]}
            )
        rows.append({"feature": col, "cells": line})
    return {"windows": xs, "rows": rows}


def reference(s: Services, version_ref: str | None, column: str) -> dict[str, Any] | None:
    """The chosen column's reference distribution from the served version's profile."""
    if version_ref is None:
        return None
    name, _, number = version_ref.rpartition("/")
    try:
        mv = s.registry.get_version(name, int(number))
    except (NotFound, ValueError):
        return None
    raw = s.registry.package_file(mv, PROFILE_FILE)
    if not raw:
        return None
    profile = json.loads(raw)
    columns = (profile.get("inputs") or {}).get("columns") or {}
    found = columns.get(column)
    return _bars(found) if isinstance(found, dict) else None


def _bars(col: dict[str, Any]) -> dict[str, Any] | None:
    """Bars (label, share) of a numeric histogram or of a categorical top-K (+ other)."""
    if col.get("kind") == "numeric":
        edges, counts = col["histogram"]["edges"], col["histogram"]["counts"]
        total = sum(counts) or 1
        bars = []
        for i, c in enumerate(counts):
            low = f"{edges[i - 1]:.3g}" if 0 < i <= len(edges) else "−∞"
            high = f"{edges[i]:.3g}" if i < len(edges) else "+∞"
            bars.append((f"{low} … {high}", c / total))
        return {"kind": "numeric", "bars": bars}
    if col.get("kind") == "categorical":
        pairs = list(zip(col["categories"], col["counts"], strict=False))
        total = (sum(c for _, c in pairs) + col.get("other", 0)) or 1
        bars = [(str(k), c / total) for k, c in pairs]
        if col.get("other"):
            bars.append(("other", col["other"] / total))
        return {"kind": "categorical", "bars": bars}
    return None


CHARTS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("Label coverage", ("labels.coverage",), ""),
    ("Latency percentiles", ("latency.p50_ms", "latency.p95_ms", "latency.p99_ms"), "ms"),
    ("Errors", ("errors.rate",), ""),
    ("Requests per window", ("requests",), ""),
)


def monitoring(request: Request, s: Services) -> dict[str, Any]:
    endpoint = request.path_params["name"]
    store = s.monitor_store
    latest = store.points(endpoint, metric="rows", limit=1)
    last_run = store.points(endpoint, since=latest[-1].window_end, limit=5000) if latest else []
    names = sorted({p.metric for p in last_run})
    columns = sorted(
        n[len("feature.") : -len(".drift")]
        for n in names
        if n.startswith("feature.") and n.endswith(".drift")
    )[:MAX_FEATURES]
    chosen = request.query_params.get("feature") or (columns[0] if columns else "")
    quality = [n for n in names if n.startswith(("performance.", "estimated."))]
    drift = [f"feature.{chosen}.psi", "drift.share"] if chosen else ["drift.share"]
    wanted = [*quality, *drift, *(m for _, metrics, _ in CHARTS for m in metrics)]
    lines = store.series([endpoint], wanted, last=SERIES_POINTS)
    cells = store.series(
        [endpoint],
        [f"feature.{c}.{k}" for c in columns for k in ("drift", "psi")],
        last=WINDOWS,
    )

    def of(metrics: Sequence[str]) -> dict[str, Sequence[MetricPoint]]:
        return {m: lines.get((endpoint, m), []) for m in metrics}

    charts = [
        chart("Performance (realised and estimated)", of(quality)),
        *(chart(title, of(metrics), unit) for title, metrics, unit in CHARTS),
        chart(f"Drift of {chosen}" if chosen else "Drift", of(drift)),
    ]
    version_ref = None
    if latest and latest[-1].version is not None:
        model = endpoint
        deployment = s.deployments.store.find(endpoint)
        if deployment is not None:
            model = max(deployment.spec.routes, key=lambda r: r.weight).ref.name
        version_ref = f"{model}/{latest[-1].version}"
    prefix = f"feature.{chosen}."
    return {
        "endpoint": endpoint,
        "heatmap": heatmap(cells, endpoint, columns),
        "features": columns,
        "feature": chosen,
        "reference": reference(s, version_ref, chosen) if chosen else None,
        "feature_now": {
            p.metric[len(prefix) :]: p.value for p in last_run if p.metric.startswith(prefix)
        },
        "version_ref": version_ref,
        "charts": charts,
        "latest": latest[-1] if latest else None,
    }
