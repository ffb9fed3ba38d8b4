"""Model performance metrics from labels, in numpy/scipy only (no scikit-learn at run time).

Monitoring computes these on windows whose labels have arrived; the definitions follow
scikit-learn's so numbers agree with what data scientists see offline (the tests check each one
against scikit-learn).

``classification_metrics(y_true, y_pred, proba=None, classes=None)``:

* ``classes``: the label set and the order of ``proba``'s columns (a model's ``classes_``);
  default: the sorted union of ``y_true`` and ``y_pred``. A label outside it raises.
* ``accuracy = mean(y_true == y_pred)``.
* ``precision = TP / (TP + FP)``, ``recall = TP / (TP + FN)``, ``f1 = 2 TP / (2 TP + FP + FN)``;
  0 when the denominator is 0 (scikit-learn's ``zero_division`` default). Binary (two classes):
  of the positive class ``classes[1]`` (with default classes: the larger label, like scikit-learn's
  ``pos_label=1`` for 0/1 labels). Multiclass: the unweighted mean over ``classes`` ("macro"),
  per-class F1 averaged (not the F1 of the averaged precision and recall).
* ``roc_auc`` (with ``proba``): binary, the Mann-Whitney statistic of the positive-class scores
  (ties count 1/2); multiclass, one-vs-rest per class and their unweighted mean ("ovr", "macro").
  NaN when a class needed for it is absent from ``y_true`` (scikit-learn raises instead).
* ``log_loss`` (with ``proba``): ``-mean(log p[i, y_i])`` with ``p`` clipped to
  ``[eps, 1 - eps]``, ``eps`` = float64 machine epsilon, as scikit-learn does, so a confident wrong
  prediction costs ~36 nats instead of infinity.
* ``n``: the number of rows.

``proba`` is ``(n, k)`` in ``classes`` order; for binary problems a 1-D array is read as the
positive-class probability.

``regression_metrics(y_true, y_pred)``: ``mae``, ``rmse``, ``r2 = 1 - SS_res / SS_tot`` (with a
constant ``y_true``: 1.0 for a perfect fit, else 0.0, scikit-learn's ``force_finite``), and ``n``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from shipyard.core.errors import InvalidArgument

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

EPS = float(np.finfo(np.float64).eps)


def label_codes(values: npt.NDArray[Any], classes: npt.NDArray[Any]) -> IntArray:
    """The index of each value in ``classes`` (any order); raises for unknown labels."""
    sorter = np.argsort(classes, kind="stable")
    pos = np.searchsorted(classes, values, sorter=sorter)
    pos = np.clip(pos, 0, classes.size - 1)
    codes: IntArray = sorter[pos]
    bad = classes[codes] != values
    if np.any(bad):
        unknown = sorted({str(v) for v in values[bad]})[:5]
        raise InvalidArgument(f"labels {unknown} are not among the classes")
    return codes


def binary_auc(positive: npt.NDArray[np.bool_], scores: FloatArray) -> float:
    """ROC AUC as the Mann-Whitney statistic: P(score_pos > score_neg) + P(tie) / 2."""
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    from scipy import stats  # here: importing scipy.stats costs a server's start ~0.1 s

    ranks = stats.rankdata(scores)  # average ranks: ties count 1/2
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def proba_matrix(proba: npt.ArrayLike, n: int, k: int) -> FloatArray:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 1 and k == 2:
        p = np.column_stack([1.0 - p, p])
    if p.shape != (n, k):
        raise InvalidArgument(f"proba must have shape ({n}, {k}), not {p.shape}")
    return p


def classification_metrics(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    proba: npt.ArrayLike | None = None,
    classes: npt.ArrayLike | None = None,
) -> dict[str, float]:
    """Accuracy, precision, recall, F1, and with ``proba`` ROC AUC and log loss; see module doc."""
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.shape != p.shape or t.ndim != 1:
        raise InvalidArgument("y_true and y_pred must be 1-D and of the same length")
    labels = np.unique(np.concatenate([t, p])) if classes is None else np.asarray(classes)
    k = labels.size
    if k < 2:
        raise InvalidArgument("classification metrics need at least two classes")
    n = t.size
    ti, pi = label_codes(t, labels), label_codes(p, labels)
    confusion = np.bincount(ti * k + pi, minlength=k * k).reshape(k, k).astype(np.float64)
    tp = np.diag(confusion)
    fp = confusion.sum(axis=0) - tp
    fn = confusion.sum(axis=1) - tp
    precision = np.divide(tp, tp + fp, out=np.zeros(k), where=(tp + fp) > 0)
    recall = np.divide(tp, tp + fn, out=np.zeros(k), where=(tp + fn) > 0)
    f1 = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros(k), where=(2 * tp + fp + fn) > 0)
    pick = slice(1, 2) if k == 2 else slice(None)
    out = {
        "n": float(n),
        "accuracy": float(tp.sum() / n) if n else float("nan"),
        "precision": float(precision[pick].mean()),
        "recall": float(recall[pick].mean()),
        "f1": float(f1[pick].mean()),
    }
    if proba is not None:
        prob = proba_matrix(proba, n, k)
        onehot = ti[:, None] == np.arange(k)[None, :]
        if k == 2:
            out["roc_auc"] = binary_auc(onehot[:, 1], prob[:, 1])
        else:
            aucs = [binary_auc(onehot[:, c], prob[:, c]) for c in range(k)]
            out["roc_auc"] = float(np.mean(aucs))
        clipped = np.clip(prob[np.arange(n), ti], EPS, 1 - EPS)
        out["log_loss"] = float(-np.mean(np.log(clipped))) if n else float("nan")
    return out


def regression_metrics(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> dict[str, float]:
    """Mean absolute error, root mean squared error and R^2; see the module docstring."""
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape or t.ndim != 1:
        raise InvalidArgument("y_true and y_pred must be 1-D and of the same length")
    if t.size == 0:
        nan = float("nan")
        return {"n": 0.0, "mae": nan, "rmse": nan, "r2": nan}
    err = t - p
    ss_res = float(np.sum(err**2))
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    constant_fit = 1.0 if ss_res == 0 else 0.0  # constant y_true: scikit-learn's force_finite
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else constant_fit
    return {
        "n": float(t.size),
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "r2": r2,
    }
