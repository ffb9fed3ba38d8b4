"""Running a monitor: one window of an endpoint's prediction log against its reference.

The window is streamed from the log in Arrow batches and profiled on the reference's bin edges and
categories, batch by batch (memory does not grow with the window); drift statistics then compare the
merged window profile with the served version's reference profile from its package. Labels that have
arrived give realised performance; probabilities give a label-free estimate (CBPE); the log's
latencies and statuses give the computational metrics. Every number becomes a metric point, and the
thresholds raise or resolve alerts.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from shipyard.core.durations import parse_duration
from shipyard.core.errors import InvalidArgument, NotFound
from shipyard.monitoring.alerts import DEFAULT_THRESHOLDS, AlertManager, Threshold
from shipyard.monitoring.notifiers.base import Notification
from shipyard.package.bundle import PROFILE_FILE
from shipyard.package.labels import LabelRule
from shipyard.registry.deployment_service import DeploymentService
from shipyard.registry.entities import MetricPoint, ModelVersion
from shipyard.registry.service import RegistryService
from shipyard.registry.store import MonitorStore
from shipyard.stats.attribution import DRIFT_IMPORTANCE, shares
from shipyard.stats.cbpe import Calibration, Estimate, estimate
from shipyard.stats.drift.verdict import DatasetDrift, DriftConfig, compare
from shipyard.stats.metrics import classification_metrics, regression_metrics
from shipyard.stats.profile import DatasetProfile, NumericProfile, observe
from shipyard.telemetry.reader import LogReader
from shipyard.telemetry.records import SERVED_ROUTES

log = logging.getLogger("shipyard.monitoring")

IN, OUT, PROBA = "in.", "out.prediction", "out.proba."


@dataclass(frozen=True)
class MonitorConfig:
    window: dt.timedelta = dt.timedelta(hours=1)
    """How far back a run looks (default 1 h)."""
    drift: DriftConfig = field(default_factory=DriftConfig)
    thresholds: tuple[Threshold, ...] = DEFAULT_THRESHOLDS
    batch_rows: int = 100_000
    """Rows per Arrow batch read from the log: bounds memory for any window size."""
    max_estimate_rows: int = 1_000_000
    """Most rows of probabilities kept for the label-free estimate."""
    name: str = "default"

    def __post_init__(self) -> None:
        parse_duration(self.window, "window")  # bounded: a window never overflows a date


@dataclass
class MonitorResult:
    endpoint: str
    window_start: dt.datetime
    window_end: dt.datetime
    rows: int
    version: ModelVersion | None = None
    inputs: DatasetDrift | None = None
    predictions: DatasetDrift | None = None
    unexpected_columns: list[str] = field(default_factory=list)
    performance: dict[str, float] = field(default_factory=dict)
    label_coverage: float = 0.0
    invalid_labels: int = 0
    """Stored labels skipped because they do not fit the model's target (counted, not fatal)."""
    estimated: Estimate | None = None
    computational: dict[str, Any] = field(default_factory=dict)
    notifications: list[Notification] = field(default_factory=list)
    window_inputs: DatasetProfile | None = None
    """The window's input profile on the reference's edges and categories (for reports)."""
    reference_inputs: DatasetProfile | None = None
    """The served version's reference input profile (for reports)."""
    importance: dict[str, float] = field(default_factory=dict)
    """Each input column's share of the version's global importance (empty when not recorded)."""

    @property
    def drifted_importance(self) -> float | None:
        """Share of global importance carried by the drifted input columns (None: unknown)."""
        if not self.importance or self.inputs is None:
            return None
        return float(sum(self.importance.get(c, 0.0) for c in self.inputs.drifted))

    def values(self) -> dict[str, float]:
        """The run's scalar metrics by name: what thresholds and the time series see."""
        out: dict[str, float] = {"rows": float(self.rows)}
        comp = self.computational
        for key, name in (
            ("error_rate", "errors.rate"),
            ("latency_p50_ms", "latency.p50_ms"),
            ("latency_p95_ms", "latency.p95_ms"),
            ("latency_p99_ms", "latency.p99_ms"),
            ("throughput_rps", "throughput.rps"),
            ("requests", "requests"),
        ):
            if comp.get(key) is not None:
                out[name] = float(comp[key])
        if self.inputs is not None and self.rows:
            cols = list(self.inputs.columns.values())
            out["drift.dataset"] = float(self.inputs.drift)
            out["drift.share"] = len(self.inputs.drifted) / max(1, len(cols))
            if self.drifted_importance is not None:
                out[DRIFT_IMPORTANCE] = self.drifted_importance
            out["data.all_missing_columns"] = float(sum(c.all_missing for c in cols))
            for c in cols:
                out[f"feature.{c.column}.drift"] = float(c.drift)
                for test, outcome in c.results.items():  # feature.<column>.<test>: its statistic
                    out[f"feature.{c.column}.{test}"] = float(outcome.statistic)
                if c.effect_size is not None:
                    out[f"feature.{c.column}.psi"] = float(c.effect_size)
                if c.p_value is not None:
                    out[f"feature.{c.column}.p_value"] = float(c.p_value)
                out[f"feature.{c.column}.missing_share"] = float(c.missing_share_window)
        if self.rows:
            out["data.unexpected_columns"] = float(len(self.unexpected_columns))
        if self.predictions is not None and self.rows:
            out["prediction_drift.dataset"] = float(self.predictions.drift)
        for k, v in self.performance.items():
            out[f"performance.{k}"] = float(v)
        if self.rows:
            out["labels.coverage"] = self.label_coverage
            out["labels.invalid"] = float(self.invalid_labels)
        if self.estimated is not None:
            out["estimated.accuracy"] = self.estimated.accuracy
            out["estimated.roc_auc"] = self.estimated.roc_auc
        return {k: v for k, v in out.items() if np.isfinite(v)}

    def to_dict(self) -> dict[str, Any]:
        def drift(d: DatasetDrift | None) -> dict[str, Any] | None:
            return None if d is None else dataset_dict(d)

        inputs = drift(self.inputs)
        return {
            "endpoint": self.endpoint,
            "window": {"start": self.window_start.isoformat(), "end": self.window_end.isoformat()},
            "model": self.version.name if self.version else None,
            "version": self.version.version if self.version else None,
            "rows": self.rows,
            "features": inputs["columns"] if inputs else {},
            "dataset": {k: v for k, v in (inputs or {}).items() if k != "columns"},
            "prediction_drift": drift(self.predictions),
            "schema": {"unexpected_columns": self.unexpected_columns},
            "performance": self.performance,
            "label_coverage": self.label_coverage,
            "invalid_labels": self.invalid_labels,
            "estimated_performance": None if self.estimated is None else self.estimated.to_dict(),
            "computational": self.computational,
            "alerts": [n.payload() for n in self.notifications],
        }


def dataset_dict(d: DatasetDrift) -> dict[str, Any]:
    """A drift verdict as JSON: the dataset verdict and ``columns`` (one dict per column, with its
    boolean ``drift`` and every statistic). Shared by the monitor and drift on files."""
    return {
        "drift": d.drift,
        "drifted": list(d.drifted),
        "correction": d.correction,
        "alpha": d.alpha,
        "columns": {name: c.to_dict() for name, c in d.columns.items()},
    }


def _without(profile: DatasetProfile, drop: set[str]) -> DatasetProfile:
    return DatasetProfile(
        rows=profile.rows, columns={k: v for k, v in profile.columns.items() if k not in drop}
    )


class MonitorService:
    def __init__(
        self,
        registry: RegistryService,
        reader: LogReader,
        store: MonitorStore,
        alerts: AlertManager,
        deployments: DeploymentService | None = None,
    ) -> None:
        self.registry = registry
        self.reader = reader
        self.store = store
        self.alerts = alerts
        self.deployments = deployments

    def check_endpoint(self, endpoint: str) -> None:
        """``NotFound`` unless ``endpoint`` is known: its predictions were logged, or it is a stored
        deployment, or a registered model (an implicit deployment that has not served yet)."""
        if self.reader.has_endpoint(endpoint):
            return
        if self.deployments is not None and self.deployments.store.find(endpoint) is not None:
            return
        try:
            self.registry.get_model(endpoint)
            return
        except (NotFound, InvalidArgument):
            pass
        raise NotFound(
            f"unknown endpoint {endpoint!r}: no prediction was logged for it and no deployment "
            "or model has that name"
        )

    def history(
        self,
        endpoint: str,
        *,
        metric: str | None = None,
        since: dt.datetime | None = None,
        limit: int = 500,
    ) -> list[MetricPoint]:
        """Stored metric points of ``endpoint``, oldest first; ``NotFound`` for an unknown endpoint
        (one with points stays known after its model and log are gone)."""
        points = self.store.points(endpoint, metric=metric, since=since, limit=limit)
        if not points and not self.store.points(endpoint, limit=1):
            self.check_endpoint(endpoint)
        return points

    def reference(self, version: ModelVersion) -> dict[str, Any]:
        raw = self.registry.package_file(version, PROFILE_FILE)
        return json.loads(raw) if raw else {}

    def run(
        self,
        endpoint: str,
        *,
        config: MonitorConfig | None = None,
        now: dt.datetime | None = None,
        record: bool = True,
    ) -> MonitorResult:
        self.check_endpoint(endpoint)  # a typo stores nothing
        config = config or MonitorConfig()
        end = now or dt.datetime.now(dt.UTC)
        start = end - config.window
        result = MonitorResult(endpoint, start, end, rows=0)
        result.computational = self.reader.summary(endpoint, start, end)
        head = self.reader.predictions(
            endpoint, start, end, route=SERVED_ROUTES, limit=1, columns=["model", "version"]
        )
        if len(head):
            result.version = self.registry.get_version(
                str(head["model"].iloc[0]), int(head["version"].iloc[0])
            )
            self._statistics(result, config)
        if record:
            self.store.add_points(
                [
                    MetricPoint(
                        endpoint=endpoint,
                        metric=name,
                        value=value,
                        window_start=start,
                        window_end=end,
                        version=result.version.version if result.version else None,
                        monitor=config.name,
                    )
                    for name, value in result.values().items()
                ]
            )
            result.notifications = self.alerts.apply(
                endpoint, config.thresholds, result.values(), monitor=config.name
            )
        return result

    def _statistics(self, result: MonitorResult, config: MonitorConfig) -> None:
        assert result.version is not None
        ref = self.reference(result.version)
        if "inputs" not in ref:
            log.warning("%s has no reference profile: drift is not computed", result.version.ref)
            return
        ref_inputs = DatasetProfile.from_dict(ref["inputs"])
        result.reference_inputs = ref_inputs
        recorded = (ref.get("explain") or {}).get("importance") or {}
        result.importance = shares(dict(recorded.get("columns") or {}))
        ref_outputs = (
            _without(DatasetProfile.from_dict(ref["outputs"]), {"label"})
            if "outputs" in ref
            else None
        )
        win_inputs: DatasetProfile | None = None
        win_outputs: DatasetProfile | None = None
        exact: dict[str, list[npt.NDArray[np.float64]]] = {}
        out_exact: dict[str, list[npt.NDArray[np.float64]]] = {}
        probas: list[npt.NDArray[np.float64]] = []
        unexpected: set[str] = set()
        version = result.version.version
        for batch in self.reader.batches(
            result.endpoint,
            result.window_start,
            result.window_end,
            batch_rows=config.batch_rows,
            route=SERVED_ROUTES,
        ):
            frame = batch.to_pandas()
            frame = frame[(frame["status"] == "ok") & (frame["version"] == version)]
            if frame.empty:
                continue
            inputs = frame[[c for c in frame.columns if c.startswith(IN)]]
            inputs.columns = [c[len(IN) :] for c in inputs.columns]
            unexpected |= set(inputs.columns) - set(ref_inputs.columns)
            win = observe(inputs, ref_inputs)
            win_inputs = win if win_inputs is None else win_inputs.merge(win)
            outputs = self._outputs(frame)
            if ref_outputs is not None:
                wout = observe(outputs, ref_outputs)
                win_outputs = wout if win_outputs is None else win_outputs.merge(wout)
            result.rows += len(frame)
            if result.rows <= config.drift.exact_max_rows:
                _collect(exact, inputs, ref_inputs)
                _collect(out_exact, outputs, ref_outputs)
            if sum(len(p) for p in probas) < config.max_estimate_rows:
                proba_cols = [c for c in frame.columns if c.startswith(PROBA)]
                if proba_cols:
                    probas.append(frame[proba_cols].to_numpy(dtype=np.float64))
        result.unexpected_columns = sorted(unexpected)
        result.window_inputs = win_inputs
        if win_inputs is None:
            return
        small = result.rows <= config.drift.exact_max_rows
        result.inputs = compare(
            ref_inputs, win_inputs, _concat(exact) if small else None, config.drift
        )
        if ref_outputs is not None and win_outputs is not None:
            result.predictions = compare(
                ref_outputs, win_outputs, _concat(out_exact) if small else None, config.drift
            )
        self._performance(result)
        calibration = ref.get("calibration")
        if probas and calibration:
            result.estimated = estimate(np.concatenate(probas), Calibration.from_dict(calibration))

    def _valid_labels(
        self, result: MonitorResult, labelled: pd.DataFrame
    ) -> tuple[pd.DataFrame, list[Any]]:
        """The rows whose stored label fits their version's target, and those labels decoded.

        Labels stored before they were checked (or written to the log by hand) may be anything:
        they are skipped and counted in ``invalid_labels``, never allowed to fail the run.
        """
        keep: list[bool] = []
        values: list[Any] = []
        rules: dict[tuple[str, int], LabelRule | None] = {}
        for model, version, text in zip(
            labelled["model"], labelled["version"], labelled["label"], strict=True
        ):
            key = (str(model), int(version))
            if key not in rules:
                try:
                    rules[key] = self.registry.label_rule(*key)
                except NotFound:
                    rules[key] = None
            rule = rules[key]
            ok, value = _decode(str(text))
            ok = ok and (rule.accepts(value) if rule is not None else _scalar(value))
            keep.append(ok)
            if ok:
                values.append(value)
        result.invalid_labels = keep.count(False)
        if result.invalid_labels:
            log.warning(
                "%s: skipped %d stored label(s) that do not fit the model's target",
                result.endpoint,
                result.invalid_labels,
            )
        return labelled[np.asarray(keep, dtype=bool)], values

    @staticmethod
    def _outputs(frame: pd.DataFrame) -> pd.DataFrame:
        cols: dict[str, Any] = {}
        if OUT in frame.columns:
            cols["prediction"] = frame[OUT].to_numpy()
        for c in frame.columns:
            if c.startswith(PROBA):
                cols[f"proba_{c[len(PROBA) :]}"] = frame[c].to_numpy()
        return pd.DataFrame(cols)

    def _performance(self, result: MonitorResult) -> None:
        labelled = self.reader.with_labels(result.endpoint, result.window_start, result.window_end)
        if labelled.empty:
            return
        labelled = labelled[(labelled["status"] == "ok") & labelled["route"].isin(SERVED_ROUTES)]
        if result.rows:
            result.label_coverage = float(labelled["label"].notna().sum()) / result.rows
        labelled = labelled[labelled["label"].notna()]
        if labelled.empty or OUT not in labelled.columns:
            return
        labelled, values = self._valid_labels(result, labelled)
        if labelled.empty:
            return
        preds = labelled[OUT].to_numpy()
        labels = np.asarray(values)
        proba_cols = [c for c in labelled.columns if c.startswith(PROBA)]
        if proba_cols:
            classes = [_label_value(c[len(PROBA) :], labels) for c in proba_cols]
            proba = labelled[proba_cols].to_numpy(dtype=np.float64)
            result.performance = classification_metrics(
                labels.astype(preds.dtype, copy=False) if preds.dtype != object else labels,
                preds,
                proba,
                classes,
            )
        elif preds.dtype.kind in "fc":
            result.performance = regression_metrics(
                labels.astype(np.float64), preds.astype(np.float64)
            )
        else:
            result.performance = classification_metrics(labels, preds)
        result.performance = {k: float(v) for k, v in result.performance.items() if v is not None}


def _scalar(value: Any) -> bool:
    return isinstance(value, str | bool | int | float)


def _decode(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text)
    except ValueError:
        return False, None


def _label_value(text: str, labels: npt.NDArray[Any]) -> Any:
    """A class name from a column suffix, typed like the labels (``proba.1`` -> 1 for int labels)."""
    if labels.dtype.kind in "iu":
        return int(text)
    if labels.dtype.kind == "f":
        return float(text)
    if labels.dtype.kind == "b":
        return text == "True"
    return text


def _collect(
    acc: dict[str, list[npt.NDArray[np.float64]]],
    frame: pd.DataFrame,
    reference: DatasetProfile | None,
) -> None:
    if reference is None:
        return
    for name, col in reference.columns.items():
        if isinstance(col, NumericProfile) and name in frame.columns:
            values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64)
            acc.setdefault(name, []).append(values[np.isfinite(values)])


def _concat(acc: Mapping[str, list[npt.NDArray[np.float64]]]) -> dict[str, npt.NDArray[np.float64]]:
    return {k: np.concatenate(v) for k, v in acc.items()}
