"""The monitoring report of an endpoint: one self-contained HTML page, and its JSON twin.

``build_report`` runs the monitor once over the current window without recording anything
(``record=False``), takes the window's and the reference's input profiles from the result, reads
the stored metric points since ``history_since`` and the endpoint's alerts, and gathers it all in a
``ReportData``. ``render_html`` draws it as one HTML file with an embedded stylesheet and inline SVG
charts (``charts``): no script, no external resource, readable offline and archivable.
``render_json`` gives the same data as plain JSON types.

The page's size depends only on the number of features, bins and time points, each capped:
``MAX_FEATURES`` features (the most drifted first), ``MAX_BINS`` bins per numerical column (adjacent
bins are merged beyond that), ``MAX_CATEGORIES`` categories and ``MAX_UNSEEN`` new values of
``MAX_LABEL`` characters at most, ``MAX_POINTS`` latest points per time series, ``MAX_ALERTS``
alerts. The report says when a cap was hit. Times are shown in UTC.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from shipyard.core.errors import InvalidArgument, NotFound
from shipyard.monitoring.alerts import Threshold
from shipyard.monitoring.charts import Bar
from shipyard.monitoring.file_drift import DriftReport
from shipyard.monitoring.monitor import MonitorConfig, MonitorService
from shipyard.monitoring.report_html import page
from shipyard.stats.drift.verdict import ColumnDrift, DatasetDrift, DriftConfig
from shipyard.stats.profile import (
    CategoricalProfile,
    ColumnProfile,
    DatasetProfile,
    NumericProfile,
)

MAX_FEATURES = 200
MAX_POINTS = 500
MAX_BINS = 30
MAX_CATEGORIES = 25
MAX_UNSEEN = 5
MAX_LABEL = 80
MAX_ALERTS = 100
SERVICE_METRICS = tuple(
    [
        "drift.dataset",
        "drift.share",
        "prediction_drift.dataset",
        "estimated.accuracy",
        "estimated.roc_auc",
        "labels.coverage",
        "labels.invalid",
        "latency.p50_ms",
        "latency.p95_ms",
        "latency.p99_ms",
        "errors.rate",
        "throughput.rps",
        "requests",
        "rows",
    ]
)
"""Metrics read from the store besides ``performance.*`` and each feature's ``feature.<name>.psi``."""
COMPUTATIONAL_KEYS = tuple(
    [
        "requests",
        "rows",
        "errors",
        "error_rate",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "latency_mean_ms",
        "throughput_rps",
    ]
)

Points = list[tuple[dt.datetime, float]]


@dataclass(frozen=True)
class FeatureReport:
    """One input column: its drift statistics and its reference vs current distribution."""

    name: str
    kind: str
    drift: bool
    psi: float | None
    p_value: float | None
    adjusted_p_value: float | None
    test: str
    """The primary test: ``ks`` (numerical) or ``chisquare`` (categorical)."""
    statistic: float | None
    jensen_shannon: float | None
    wasserstein: float | None
    missing_share_reference: float
    missing_share_current: float
    reason: str
    bars: list[Bar] = field(default_factory=list)
    """Shares of rows per bin or category, reference and current (empty without a profile)."""
    edges: list[float] = field(default_factory=list)
    """Numerical columns: the bin edges of the inner bars (one more than inner bars)."""
    note: str = ""
    importance: float | None = None
    """This column's share of the version's global importance (None: not recorded)."""

    @property
    def impact(self) -> float | None:
        """Drift that matters: importance share x drift effect size (PSI), for drifted columns."""
        if self.importance is None or self.psi is None or not self.drift:
            return None
        return self.importance * self.psi


@dataclass(frozen=True)
class ReportData:
    endpoint: str
    model: str | None
    version: int | None
    window_start: dt.datetime
    window_end: dt.datetime
    history_since: dt.datetime
    generated_at: dt.datetime
    rows: int
    dataset: dict[str, Any] | None
    """The dataset verdict: ``drift``, ``drifted``, ``correction``, ``alpha`` (None: no data)."""
    prediction_drift: dict[str, Any] | None
    features: list[FeatureReport]
    features_total: int
    unexpected_columns: list[str]
    performance: dict[str, float]
    label_coverage: float
    invalid_labels: int
    estimated: dict[str, Any] | None
    computational: dict[str, Any]
    series: dict[str, Points]
    """Stored metric points since ``history_since`` by metric name, oldest first."""
    thresholds: list[Threshold]
    effect_size_floor: float
    alerts: list[dict[str, Any]]
    notes: list[str]
    drifted_importance: float | None = None
    """Share of global importance carried by the drifted columns (None: not recorded)."""
    reference: str | None = None
    """A report of a batch of data (``build_file_report``): what the reference was; ``endpoint``
    then names the current data. None for an endpoint's report."""


def build_report(
    monitoring: MonitorService,
    endpoint: str,
    *,
    window: dt.timedelta,
    history_since: dt.datetime,
    now: dt.datetime | None = None,
    config: MonitorConfig | None = None,
) -> ReportData:
    """Everything the report shows about ``endpoint``: the window of length ``window`` ending at
    ``now`` (default: the current time), profiled and tested like a monitor run with ``config``
    (default ``MonitorConfig()``) but recording nothing, and the points that ``config.name``'s
    runs stored since ``history_since``. Raises ``NotFound`` for an endpoint with neither."""
    now, history_since = _utc(now or dt.datetime.now(dt.UTC)), _utc(history_since)
    if window <= dt.timedelta(0):
        raise InvalidArgument("the window must be longer than zero")
    if history_since >= now:
        raise InvalidArgument(
            f"history start {history_since.isoformat()} is not before {now.isoformat()}"
        )
    config = replace(config or MonitorConfig(), window=window)
    result = monitoring.run(endpoint, config=config, now=now, record=False)
    notes: list[str] = []
    features = _features(
        result.inputs, result.reference_inputs, result.window_inputs, notes, result.importance
    )
    names = [f.name for f in features]
    series, capped = _series(monitoring, endpoint, history_since, now, config.name, names)
    if capped:
        notes.append(f"Time series are capped to the latest {MAX_POINTS} points per metric.")
    if result.invalid_labels:
        notes.append(
            f"{result.invalid_labels} stored label(s) do not fit the model's target and were "
            "skipped (not counted in performance)."
        )
    alerts = [
        asdict(a)
        for a in monitoring.store.alerts(endpoint=endpoint, limit=MAX_ALERTS)
        if a.status == "open" or a.last_seen_at >= history_since
    ]
    if not result.rows and not series and not alerts and result.version is None:
        raise NotFound(f"endpoint {endpoint!r} has no predictions in the window and no history")
    verdict = result.inputs
    comp = result.computational
    return ReportData(
        endpoint=endpoint,
        model=result.version.name if result.version else None,
        version=result.version.version if result.version else _last_version(monitoring, endpoint),
        window_start=result.window_start,
        window_end=result.window_end,
        history_since=history_since,
        generated_at=dt.datetime.now(dt.UTC),
        rows=result.rows,
        dataset=None if verdict is None else _verdict(verdict),
        prediction_drift=None
        if result.predictions is None
        else {"drift": result.predictions.drift, "drifted": list(result.predictions.drifted)},
        features=features,
        features_total=len(result.inputs.columns) if result.inputs else len(features),
        unexpected_columns=list(result.unexpected_columns),
        performance=dict(result.performance),
        label_coverage=result.label_coverage,
        invalid_labels=result.invalid_labels,
        estimated=None if result.estimated is None else result.estimated.to_dict(),
        computational={k: comp.get(k) for k in COMPUTATIONAL_KEYS},
        series=series,
        thresholds=list(config.thresholds),
        effect_size_floor=config.drift.effect_size_floor,
        alerts=alerts,
        notes=notes,
        drifted_importance=result.drifted_importance,
    )


def _verdict(d: DatasetDrift) -> dict[str, Any]:
    return {
        "drift": d.drift,
        "drifted": list(d.drifted),
        "correction": d.correction,
        "alpha": d.alpha,
    }


def _utc(at: dt.datetime) -> dt.datetime:
    """Naive times are taken as UTC, like the log reader does."""
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at


def _last_version(monitoring: MonitorService, endpoint: str) -> int | None:
    points = monitoring.store.points(endpoint, metric="rows", limit=1)
    return points[-1].version if points else None


def build_file_report(report: DriftReport, *, config: DriftConfig | None = None) -> ReportData:
    """The report of a batch of data against a reference (``file_drift.drift``): the drift
    sections of an endpoint's report, without history, performance or alerts."""
    notes: list[str] = []
    features = _features(report.result, report.reference_profile, report.current_profile, notes)
    now = dt.datetime.now(dt.UTC)
    return ReportData(
        endpoint=report.current,
        model=None,
        version=None,
        window_start=now,
        window_end=now,
        history_since=now,
        generated_at=now,
        rows=report.rows,
        dataset=_verdict(report.result),
        prediction_drift=None,
        features=features,
        features_total=len(report.result.columns),
        unexpected_columns=list(report.unexpected_columns),
        performance={},
        label_coverage=0.0,
        invalid_labels=0,
        estimated=None,
        computational={},
        series={},
        thresholds=[],
        effect_size_floor=(config or DriftConfig()).effect_size_floor,
        alerts=[],
        notes=notes,
        reference=report.reference,
    )


def _features(
    verdict: DatasetDrift | None,
    ref: DatasetProfile | None,
    win: DatasetProfile | None,
    notes: list[str],
    importance: Mapping[str, float] | None = None,
) -> list[FeatureReport]:
    """The input columns, most drifted first; without a row in the window, the reference alone.
    ``importance``: each column's share of the version's global importance, when recorded."""
    if verdict is not None:
        out = [
            _feature_row(
                name,
                c,
                ref.columns.get(name) if ref else None,
                win.columns.get(name) if win else None,
            )
            for name, c in verdict.columns.items()
        ]
    else:
        out = [
            _feature_row(name, None, col, None)
            for name, col in (ref.columns if ref else {}).items()
        ]
    if importance:
        out = [replace(f, importance=importance.get(f.name, 0.0)) for f in out]
    # drifted first; among them drift that matters (importance x PSI) when importance is known
    out.sort(
        key=lambda f: (
            not f.drift,
            -(f.impact if f.impact is not None else -1.0),
            -(f.psi if f.psi is not None else -1.0),
            f.name,
        )
    )
    if len(out) > MAX_FEATURES:
        notes.append(
            f"Showing the {MAX_FEATURES} most drifted of {len(out)} features; "
            "`shipyard monitor run --json` lists them all."
        )
    return out[:MAX_FEATURES]


def _stat(c: ColumnDrift, test: str) -> float | None:
    outcome = c.results.get(test)
    if outcome is None or not math.isfinite(outcome.statistic):
        return None
    return float(outcome.statistic)


def _feature_row(
    name: str, c: ColumnDrift | None, ref: ColumnProfile | None, win: ColumnProfile | None
) -> FeatureReport:
    kind = c.kind if c else ("numeric" if isinstance(ref, NumericProfile) else "categorical")
    bars: list[Bar] = []
    edges: list[float] = []
    note = ""
    if isinstance(ref, NumericProfile):
        bars, edges, note = _numeric_bars(ref, win if isinstance(win, NumericProfile) else None)
    elif isinstance(ref, CategoricalProfile):
        bars, note = _category_bars(ref, win if isinstance(win, CategoricalProfile) else None)
    if win is None or win.rows == 0:
        note = "No row in the window: the reference alone is drawn."
    test = "ks" if kind == "numeric" else "chisquare"
    return FeatureReport(
        name=name,
        kind=kind,
        drift=c.drift if c else False,
        psi=c.effect_size if c else None,
        p_value=c.p_value if c else None,
        adjusted_p_value=c.adjusted_p_value if c else None,
        test=test,
        statistic=_stat(c, test) if c else None,
        jensen_shannon=_stat(c, "jensenshannon") if c else None,
        wasserstein=_stat(c, "wasserstein") if c else None,
        missing_share_reference=c.missing_share_ref if c else 0.0,
        missing_share_current=c.missing_share_window if c else 0.0,
        reason=c.reason if c else "no row in the window",
        bars=bars,
        edges=edges,
        note=note,
    )


def _share(count: int, rows: int) -> float:
    return count / rows if rows else 0.0


def _numeric_bars(
    ref: NumericProfile, win: NumericProfile | None
) -> tuple[list[Bar], list[float], str]:
    edges = list(ref.histogram.edges)
    ref_counts = list(ref.histogram.counts)
    win_counts = list(win.histogram.counts) if win else [0] * len(ref_counts)
    n_bins, note = len(edges) - 1, ""
    if n_bins > MAX_BINS:  # merge runs of adjacent bins, keeping under/overflow apart
        group = math.ceil(n_bins / MAX_BINS)
        cuts = [*range(0, n_bins, group), n_bins]
        edges = [edges[i] for i in cuts]

        def merged(counts: list[int]) -> list[int]:
            inner = [sum(counts[1 + a : 1 + b]) for a, b in itertools.pairwise(cuts)]
            return [counts[0], *inner, counts[-1]]

        ref_counts, win_counts = merged(ref_counts), merged(win_counts)
        note = f"{n_bins} bins merged into {len(edges) - 1} for display."
    wrows = win.rows if win else 0

    def bar(i: int, label: str, kind: str = "bin", detail: str = "") -> Bar:
        return Bar(
            label, _share(ref_counts[i], ref.rows), _share(win_counts[i], wrows), kind, detail
        )

    last = len(edges) - 2
    bars = [bar(0, "under", "under", f"below {edges[0]:.6g}")]
    bars += [
        bar(i + 1, f"[{edges[i]:.4g}, {edges[i + 1]:.4g}{']' if i == last else ')'}")
        for i in range(last + 1)
    ]
    bars.append(bar(-1, "over", "over", f"above {edges[-1]:.6g}"))
    missing = _share(win.missing, wrows) if win else 0.0
    bars.append(Bar("missing", _share(ref.missing, ref.rows), missing, "missing"))
    return bars, edges, note


def _clip(label: str) -> str:
    """A category value cut to ``MAX_LABEL`` characters (free text can be any length)."""
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def _category_bars(
    ref: CategoricalProfile, win: CategoricalProfile | None
) -> tuple[list[Bar], str]:
    wrows = win.rows if win else 0
    win_counts = list(win.counts) if win else [0] * len(ref.counts)
    shown = min(len(ref.categories), MAX_CATEGORIES)
    bars = [
        Bar(_clip(cat), _share(rc, ref.rows), _share(wc, wrows), "category")
        for cat, rc, wc in zip(ref.categories[:shown], ref.counts, win_counts, strict=False)
    ]
    ref_other = ref.other + sum(ref.counts[shown:])
    win_other = (win.other if win else 0) + sum(win_counts[shown:])
    note = ""
    if shown < len(ref.categories):
        note = f"{len(ref.categories) - shown} more categories are counted in 'other'."
    outside = "values outside the categories shown"
    bars.append(
        Bar("other", _share(ref_other, ref.rows), _share(win_other, wrows), "other", outside)
    )
    missing = _share(win.missing, wrows) if win else 0.0
    bars.append(Bar("missing", _share(ref.missing, ref.rows), missing, "missing"))
    new = "not among the reference's categories; counted in 'other'"
    for value, count in list((win.unseen if win else {}).items())[:MAX_UNSEEN]:
        bars.append(Bar(_clip(value), 0.0, _share(count, wrows), "unseen", new))
    return bars, note


def _series(
    monitoring: MonitorService,
    endpoint: str,
    since: dt.datetime,
    until: dt.datetime,
    monitor: str,
    features: Sequence[str],
) -> tuple[dict[str, Points], bool]:
    """The latest ``MAX_POINTS`` points of each metric recorded by ``monitor``, and whether any
    series was cut. The store filters by metric, not monitor: each query reads a few times more
    rows than kept, so other monitors of the endpoint rarely crowd a series out."""
    found: dict[str, Points] = {}
    capped = False
    room = (MAX_POINTS + 1) * 4
    queries = [(m, room) for m in SERVICE_METRICS]
    queries += [(f"feature.{name}.psi", room) for name in features]
    queries.append(("performance.", room * 16))
    for metric, limit in queries:
        rows = monitoring.store.points(
            endpoint, metric=metric, since=since, until=until, limit=limit
        )
        capped |= len(rows) == limit
        for p in rows:
            if p.monitor == monitor:
                found.setdefault(p.metric, []).append((p.window_end, p.value))
    for name, points in found.items():
        if len(points) > MAX_POINTS:
            found[name], capped = points[-MAX_POINTS:], True
    return found, capped


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def render_json(data: ReportData) -> dict[str, Any]:
    """The report's data as plain JSON types (times as ISO 8601 strings, NaN as null)."""
    out: dict[str, Any] = _plain(asdict(data))
    out["format"] = "shipyard.monitoring.report/1"
    return out


def render_html(data: ReportData) -> str:
    """The report as one self-contained HTML page (embedded CSS, inline SVG, no script)."""
    return page(data)
