"""Confidence-based performance estimation (CBPE): a classifier's accuracy and ROC AUC without labels.

Idea (NannyML's CBPE): if the model's probabilities are *calibrated*, ``P(y = c | score) = p_c``,
then on a window whose labels have not arrived, each prediction is right with probability
``p_i = p[i, predicted class]``, and the expected confusion matrix (hence accuracy, AUC) follows
from the probabilities alone. This stays valid under covariate shift (the inputs move but
``P(y | x)`` does not); it cannot see concept drift, which needs labels.

**Calibration** (``Calibration.fit`` on a labelled reference the model was *not* trained on):
per class, an isotonic regression of the one-vs-rest outcome on the score (``scipy.optimize.
isotonic_regression``, the pool-adjacent-violators algorithm), stored as the knots of a
piecewise-linear map applied with ``np.interp`` (constant within each pooled block, linear between
blocks, clamped outside the fitted range, as scikit-learn's ``IsotonicRegression`` does). Binary
models calibrate the positive-class score only (``p0 = 1 - p1``); multiclass models calibrate
every class and renormalise each row to sum to 1. Isotonic calibration can also overfit, so a
class's map is used only if it lowers the expected calibration error measured out of sample: the
reference is split into 3 stratified folds (as NannyML does), the map is fitted on two and the ECE
of raw vs calibrated scores measured on the third; the map (refitted on all rows) is kept when the
mean calibrated ECE is lower. ECE uses 10 equal-width bins on [0, 1]::

    ECE = sum_b (n_b / n) * |mean(outcome in b) - mean(score in b)|

**Estimate** (``estimate``) from calibrated probabilities ``p`` of a window of ``n`` rows:

* accuracy: ``a = mean_i p_i`` (``p_i`` the calibrated probability of the predicted class). The
  number of correct predictions is a sum of independent Bernoulli(p_i), so its variance is
  ``sum_i p_i (1 - p_i)`` and the 95% interval is ``a +- 1.96 * sqrt(sum p_i (1 - p_i)) / n``
  (normal approximation, clipped to [0, 1]). This is an interval for the *realised* accuracy of
  this window given its inputs; it does not include the calibration's own estimation error, which
  is small next to it for references several times larger than a window.
* binary ROC AUC: the expected numerator over the expected denominator of the Mann-Whitney
  statistic, with ``q_i = 1 - p_i``::

      AUC ~ sum_{s_i > s_j} p_i q_j + 1/2 sum_{s_i = s_j, i != j} p_i q_j
            ------------------------------------------------------------
                     (sum p)(sum q) - sum_i p_i q_i

  (pairs ordered by the model's raw scores ``s``, which is what a realised AUC ranks). Sorting
  once and accumulating ``q`` over lower scores gives it in O(n log n). Multiclass: the mean of
  the one-vs-rest estimates ("macro", like ``metrics.classification_metrics``).
* its 95% interval: Hanley & McNeil (1982), with the expected counts of positives
  ``n1 = sum p`` and negatives ``n2 = sum q``::

      SE^2 = (A(1-A) + (n1-1)(Q1 - A^2) + (n2-1)(Q2 - A^2)) / (n1 n2),
      Q1 = A / (2 - A),  Q2 = 2 A^2 / (1 + A)

  It assumes both score distributions are sampled, so it is conservative for a window whose
  scores are given and only the labels are random; a closed form that is cheap and never zero.
  Multiclass: the mean of the per-class standard errors (as if fully correlated, conservative).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import isotonic_regression

from shipyard.core.errors import InvalidArgument
from shipyard.stats.metrics import label_codes, proba_matrix

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

ECE_BINS = 10
FOLDS = 3
SEED = 0
Z95 = 1.959963984540054


def expected_calibration_error(
    scores: FloatArray, outcomes: FloatArray, bins: int = ECE_BINS
) -> float:
    """ECE of ``scores`` in [0, 1] against 0/1 ``outcomes`` on ``bins`` equal-width bins."""
    if scores.size == 0:
        return 0.0
    idx = np.clip((scores * bins).astype(np.intp), 0, bins - 1)
    gap = np.bincount(idx, weights=outcomes - scores, minlength=bins)  # n_b * (mean o - mean s)
    return float(np.abs(gap).sum() / scores.size)


def isotonic_knots(scores: FloatArray, outcomes: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Knots ``(x, y)`` of the isotonic fit of ``outcomes`` on ``scores``, for ``np.interp``."""
    ux, inv, cnt = np.unique(scores, return_inverse=True, return_counts=True)
    means = np.bincount(inv, weights=outcomes) / cnt  # tied scores pooled first
    fit = isotonic_regression(means, weights=cnt.astype(np.float64))
    blocks = np.asarray(fit.blocks)
    keep = np.unique(np.concatenate([blocks[:-1], blocks[1:] - 1]))  # ends of each flat block
    return ux[keep].astype(np.float64), np.asarray(fit.x, dtype=np.float64)[keep]


def stratified_folds(codes: IntArray, folds: int, seed: int = SEED) -> IntArray:
    """A fold id per row, each class spread evenly over ``folds`` folds in random order."""
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(codes.size), codes))  # by class, shuffled within
    sorted_codes = codes[order]
    starts = np.searchsorted(sorted_codes, sorted_codes, side="left")
    fold = np.empty(codes.size, dtype=np.intp)
    fold[order] = (np.arange(codes.size) - starts) % folds
    return fold


def _score_columns(k: int) -> list[int]:
    return [1] if k == 2 else list(range(k))


@dataclass(frozen=True)
class Calibration:
    """Per-class isotonic maps (empty knots: the class is left uncalibrated); see module doc."""

    classes: tuple[Any, ...]
    x: tuple[tuple[float, ...], ...]
    """Per score column (binary: the positive class only; else every class): knot positions."""
    y: tuple[tuple[float, ...], ...]
    ece_raw: tuple[float, ...]
    """Out-of-fold ECE of the raw scores, per score column."""
    ece_calibrated: tuple[float, ...]

    @property
    def calibrated(self) -> tuple[bool, ...]:
        return tuple(len(xs) > 0 for xs in self.x)

    @classmethod
    def fit(
        cls,
        proba: npt.ArrayLike,
        labels: npt.ArrayLike,
        classes: Sequence[Any] | npt.ArrayLike,
        *,
        folds: int = FOLDS,
        seed: int = SEED,
    ) -> Calibration:
        """Fit on a labelled reference (not the training data); ``proba`` columns in ``classes``."""
        cls_arr = np.asarray(classes)
        y = np.asarray(labels)
        p = proba_matrix(proba, y.size, cls_arr.size)
        codes = label_codes(y, cls_arr)
        fold = stratified_folds(codes, folds, seed)
        xs, ys, raw_e, cal_e = [], [], [], []
        for c in _score_columns(cls_arr.size):
            s, o = p[:, c], (codes == c).astype(np.float64)
            raw, cal = [], []
            for f in range(folds):
                train, test = fold != f, fold == f
                if not test.any() or not train.any():
                    continue
                kx, ky = isotonic_knots(s[train], o[train])
                raw.append(expected_calibration_error(s[test], o[test]))
                cal.append(expected_calibration_error(np.interp(s[test], kx, ky), o[test]))
            use = bool(raw) and float(np.mean(cal)) < float(np.mean(raw))
            kx, ky = isotonic_knots(s, o) if use else (np.empty(0), np.empty(0))
            xs.append(tuple(float(v) for v in kx))
            ys.append(tuple(float(v) for v in ky))
            raw_e.append(float(np.mean(raw)) if raw else 0.0)
            cal_e.append(float(np.mean(cal)) if cal else 0.0)
        return cls(
            tuple(_plain(c) for c in cls_arr), tuple(xs), tuple(ys), tuple(raw_e), tuple(cal_e)
        )

    def apply(self, proba: npt.ArrayLike) -> FloatArray:
        """Calibrated probabilities, ``(n, k)`` in ``classes`` order."""
        k = len(self.classes)
        raw = np.asarray(proba, dtype=np.float64)
        p = proba_matrix(raw, raw.shape[0] if raw.ndim else 0, k)
        out = p.copy()
        for c, xs, ys in zip(_score_columns(k), self.x, self.y, strict=True):
            if xs:
                out[:, c] = np.interp(p[:, c], np.asarray(xs), np.asarray(ys))
        if k == 2:
            out[:, 0] = 1.0 - out[:, 1]
        elif any(self.calibrated):
            sums = out.sum(axis=1, keepdims=True)
            out = np.where(sums > 0, out / np.where(sums > 0, sums, 1.0), p)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "classes": list(self.classes),
            "x": [list(v) for v in self.x],
            "y": [list(v) for v in self.y],
            "ece_raw": list(self.ece_raw),
            "ece_calibrated": list(self.ece_calibrated),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(
            classes=tuple(data["classes"]),
            x=tuple(tuple(float(v) for v in xs) for xs in data["x"]),
            y=tuple(tuple(float(v) for v in ys) for ys in data["y"]),
            ece_raw=tuple(float(v) for v in data["ece_raw"]),
            ece_calibrated=tuple(float(v) for v in data["ece_calibrated"]),
        )


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python scalar it holds (for JSON), anything else as is."""
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class Estimate:
    """Estimated accuracy and ROC AUC of a window with their 95% intervals; ``n`` rows."""

    accuracy: float
    accuracy_low: float
    accuracy_high: float
    roc_auc: float
    roc_auc_low: float
    roc_auc_high: float
    n: int

    def to_dict(self) -> dict[str, float | int | None]:
        return {
            k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in vars(self).items()
        }


def expected_auc(scores: FloatArray, p: FloatArray) -> float:
    """Expected ROC AUC of ``scores`` when row i is positive with probability ``p[i]``."""
    q = 1.0 - p
    _, inv = np.unique(scores, return_inverse=True)
    pos = np.bincount(inv, weights=p)
    neg = np.bincount(inv, weights=q)
    self_pairs = np.bincount(inv, weights=p * q)
    below = np.cumsum(neg) - neg  # expected negatives with a strictly lower score
    numerator = float(np.sum(pos * below) + 0.5 * np.sum(pos * neg - self_pairs))
    denominator = float(p.sum() * q.sum() - np.sum(p * q))
    return numerator / denominator if denominator > 0 else float("nan")


def hanley_mcneil_se(auc: float, n_pos: float, n_neg: float) -> float:
    """Hanley & McNeil's standard error of an AUC with ``n_pos`` positives and ``n_neg`` negatives."""
    if np.isnan(auc) or n_pos <= 0 or n_neg <= 0:
        return float("nan")
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)
    return float(np.sqrt(max(var, 0.0) / (n_pos * n_neg)))


def estimate(
    proba: npt.ArrayLike,
    calibration: Calibration,
    classes: Sequence[Any] | npt.ArrayLike | None = None,
    *,
    y_pred: npt.ArrayLike | None = None,
) -> Estimate:
    """Estimated accuracy and ROC AUC of predictions with probabilities ``proba`` (no labels).

    ``proba`` columns are in ``classes`` order (default: the calibration's). The predicted class is
    ``y_pred`` when given, else the column of the highest raw probability (the model's prediction).
    """
    order = list(calibration.classes)
    given = order if classes is None else [_plain(c) for c in np.asarray(classes)]
    if len(given) != len(order) or any(c not in given for c in order):
        raise InvalidArgument(f"classes {given} differ from the calibration's {order}")
    raw = np.asarray(proba, dtype=np.float64)
    n = raw.shape[0] if raw.ndim else 0
    p = proba_matrix(raw, n, len(order))[:, [given.index(c) for c in order]]
    if n == 0:
        nan = float("nan")
        return Estimate(nan, nan, nan, nan, nan, nan, 0)
    cal = calibration.apply(p)
    if y_pred is None:
        predicted = np.argmax(p, axis=1)
    else:
        predicted = label_codes(np.asarray(y_pred), np.asarray(order, dtype=object))
    right = cal[np.arange(n), predicted]
    acc = float(right.mean())
    half = Z95 * float(np.sqrt(np.sum(right * (1 - right)))) / n
    aucs, ses = [], []
    for c in _score_columns(len(order)):
        auc = expected_auc(p[:, c], cal[:, c])
        aucs.append(auc)
        ses.append(hanley_mcneil_se(auc, float(cal[:, c].sum()), float((1 - cal[:, c]).sum())))
    auc, se = float(np.mean(aucs)), float(np.mean(ses))
    return Estimate(
        accuracy=acc,
        accuracy_low=max(0.0, acc - half),
        accuracy_high=min(1.0, acc + half),
        roc_auc=auc,
        roc_auc_low=max(0.0, auc - Z95 * se),
        roc_auc_high=min(1.0, auc + Z95 * se),
        n=n,
    )
