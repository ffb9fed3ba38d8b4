"""Champion/challenger evaluation on the same recent labelled data (a holdout not used for training).

Both models predict the holdout; each metric comes with a 95 % bootstrap interval (seeded, 200
resamples, the same resamples for both models so the difference is paired), and so does the
challenger's *improvement* (challenger minus champion, sign-flipped for lower-is-better metrics),
computed per resample. The challenger wins when its value of the criteria's ``metric`` clears every
bar (as MLflow's ``MetricThreshold``): at least ``threshold`` if set, at least the champion's plus
``min_absolute_change``, at least the champion's times ``1 + min_relative_change`` — reversed for
lower-is-better metrics —, with ``significant`` the improvement's interval above zero, and it stays
within the latency and size budgets.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from shipyard.package.model import Model
from shipyard.stats.metrics import classification_metrics, regression_metrics

LOWER_IS_BETTER = {"log_loss", "mae", "rmse"}
BOOTSTRAP = 200
LATENCY_REPEATS = 5


@dataclass(frozen=True)
class Criteria:
    metric: str = "accuracy"
    min_absolute_change: float = 0.0
    min_relative_change: float = 0.0
    threshold: float | None = None
    max_latency_ratio: float = 3.0
    """Challenger latency per row at most this many times the champion's."""
    max_size_ratio: float = 5.0
    """Challenger package size at most this many times the champion's (a memory proxy)."""
    significant: bool = False
    """Require the 95 % bootstrap interval of the improvement to lie above zero (a gain that chance
    on this holdout cannot explain)."""

    @property
    def greater_is_better(self) -> bool:
        return self.metric not in LOWER_IS_BETTER


@dataclass(frozen=True)
class Scored:
    ref: str
    metrics: dict[str, float]
    low: float
    high: float
    latency_ms_per_row: float
    size_bytes: int


@dataclass(frozen=True)
class Evaluation:
    verdict: str
    """``challenger`` (wins) or ``champion`` (keeps its place)."""
    metric: str
    champion: Scored
    challenger: Scored
    reasons: list[str] = field(default_factory=list)
    rows: int = 0
    improvement: float = float("nan")
    """Challenger minus champion on ``metric`` (champion minus challenger when lower is better)."""
    improvement_low: float = float("nan")
    improvement_high: float = float("nan")
    """95 % paired bootstrap interval of ``improvement``."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _metrics(
    model: Model, X: pd.DataFrame, y: npt.NDArray[Any]
) -> tuple[dict[str, float], npt.NDArray[Any], npt.NDArray[Any] | None, float]:
    # the fastest of a few calls: one call descheduled on a busy machine must not fail a model
    # on latency (the first call also pays for lazy initialisation)
    timings = []
    for _ in range(LATENCY_REPEATS):
        started = time.perf_counter()
        preds = model.predict(X)
        proba = model.predict_proba(X) if model.classes is not None else None
        timings.append(time.perf_counter() - started)
    per_row = min(timings) * 1000 / max(1, len(X))
    if model.classes is not None:
        metrics = classification_metrics(y, preds, proba, list(model.classes))
    else:
        metrics = regression_metrics(y.astype(np.float64), preds.astype(np.float64))
    return {k: float(v) for k, v in metrics.items() if v is not None}, preds, proba, per_row


def _resampled(
    metric: str,
    y: npt.NDArray[Any],
    preds: npt.NDArray[Any],
    proba: npt.NDArray[Any] | None,
    classes: list[Any] | None,
    idx: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """``metric`` on each resample (rows of ``idx``); NaN where it is undefined."""
    values = np.full(len(idx), np.nan)
    for i, rows in enumerate(idx):
        if classes is not None:
            m = classification_metrics(
                y[rows], preds[rows], None if proba is None else proba[rows], classes
            )
        else:
            m = regression_metrics(y[rows].astype(np.float64), preds[rows].astype(np.float64))
        v = m.get(metric)
        if v is not None and np.isfinite(v):
            values[i] = float(v)
    return values


def _interval(values: npt.NDArray[np.float64]) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return float("nan"), float("nan")
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


def evaluate(
    champion: Model,
    challenger: Model,
    holdout: pd.DataFrame,
    criteria: Criteria | None = None,
    *,
    champion_ref: str = "champion",
    challenger_ref: str = "challenger",
    sizes: tuple[int, int] = (0, 0),
    seed: int = 0,
) -> Evaluation:
    criteria = criteria or Criteria()
    X = holdout.drop(columns=["label"])
    y = holdout["label"].to_numpy()
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(X), size=(BOOTSTRAP, len(X)))
    scored, resampled = [], []
    for model, ref, size in (
        (champion, champion_ref, sizes[0]),
        (challenger, challenger_ref, sizes[1]),
    ):
        metrics, preds, proba, per_row = _metrics(model, X, y)
        classes = list(model.classes) if model.classes is not None else None
        values = _resampled(criteria.metric, y, preds, proba, classes, idx)
        resampled.append(values)
        scored.append(Scored(ref, metrics, *_interval(values), per_row, size))
    champ, chall = scored
    sign = 1.0 if criteria.greater_is_better else -1.0
    gain_low, gain_high = _interval(sign * (resampled[1] - resampled[0]))
    gain = float("nan")
    reasons = []
    if criteria.metric not in chall.metrics or criteria.metric not in champ.metrics:
        reasons.append(f"metric {criteria.metric!r} is not available for both models")
    else:
        a, b = champ.metrics[criteria.metric], chall.metrics[criteria.metric]
        gain = sign * (b - a)
        if criteria.threshold is not None and sign * (b - criteria.threshold) < 0:
            reasons.append(f"{criteria.metric} {b:.4g} misses the threshold {criteria.threshold:g}")
        if sign * (b - a) < criteria.min_absolute_change:
            reasons.append(
                f"{criteria.metric} {b:.4g} vs champion {a:.4g}: change below {criteria.min_absolute_change:g}"
            )
        if a and sign * (b - a) / abs(a) < criteria.min_relative_change:
            reasons.append(f"relative change below {criteria.min_relative_change:.1%}")
        if criteria.significant and not gain_low > 0:
            reasons.append(
                f"{criteria.metric} improvement {gain:+.4g} is not significant "
                f"(95 % interval {gain_low:+.4g} to {gain_high:+.4g})"
            )
    if (
        champ.latency_ms_per_row > 0
        and chall.latency_ms_per_row > criteria.max_latency_ratio * champ.latency_ms_per_row
    ):
        reasons.append(
            f"latency {chall.latency_ms_per_row:.3f} ms/row is over {criteria.max_latency_ratio:g}x the champion's"
        )
    if champ.size_bytes and chall.size_bytes > criteria.max_size_ratio * champ.size_bytes:
        reasons.append(f"package is {chall.size_bytes / champ.size_bytes:.1f}x the champion's size")
    return Evaluation(
        "champion" if reasons else "challenger",
        criteria.metric,
        champ,
        chall,
        reasons,
        len(X),
        gain,
        gain_low,
        gain_high,
    )
