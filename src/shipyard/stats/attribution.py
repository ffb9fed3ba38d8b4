"""Attribution arithmetic: derived features folded back onto input columns, additivity, importance.

A model behind preprocessing sees *derived* features (one-hot indicators, scaled values, imputation
flags); people think in the input columns. Shapley values are additive, so the attribution of an
input column is the sum of the attributions of the derived features computed from it, and
``base + sum(attributions) = output`` still holds after folding. Everything here is pure numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

DRIFT_IMPORTANCE = "drift.importance_share"
"""Monitor metric: the share of a version's global importance carried by its drifted columns."""


def fold(values: npt.NDArray[Any], owners: Sequence[int], n_columns: int) -> FloatArray:
    """Sum derived-feature attributions onto the input column that owns each derived feature.

    ``values`` is ``(rows, derived)`` or ``(rows, derived, outputs)``; ``owners[j]`` is the input
    column index derived feature ``j`` was computed from. Returns ``(rows, n_columns[, outputs])``.
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape[1] != len(owners):
        raise ValueError(f"{arr.shape[1]} derived features but {len(owners)} owners")
    owner = np.asarray(owners, dtype=np.int64)
    if owner.size and (owner.min() < 0 or owner.max() >= n_columns):
        raise ValueError(f"owners must index {n_columns} input columns")
    if len(owner) == n_columns and np.array_equal(owner, np.arange(n_columns)):
        return arr  # one derived feature per column, in order: nothing to sum
    mapping = np.zeros((len(owners), n_columns))
    mapping[np.arange(len(owners)), owner] = 1.0
    if arr.ndim == 2:
        return np.asarray(arr @ mapping, dtype=np.float64)
    # (rows, derived, outputs) -> (rows, columns, outputs)
    return np.asarray(np.einsum("rdo,dc->rco", arr, mapping), dtype=np.float64)


def additivity_error(
    base: npt.NDArray[Any], values: npt.NDArray[Any], output: npt.NDArray[Any]
) -> float:
    """Largest ``|base + sum(values) - output|`` over rows (and outputs): 0 for exact Shapley values.

    ``values`` has the columns on axis 1; ``base`` and ``output`` have the shape of ``values``
    without that axis.
    """
    total = np.asarray(base, dtype=np.float64) + np.asarray(values, dtype=np.float64).sum(axis=1)
    diff = np.abs(total - np.asarray(output, dtype=np.float64))
    return float(diff.max()) if diff.size else 0.0


def mean_abs(values: npt.NDArray[Any]) -> FloatArray:
    """Global importance: the mean absolute attribution of each column over rows (and outputs)."""
    arr = np.abs(np.asarray(values, dtype=np.float64))
    if arr.ndim == 3:
        arr = arr.mean(axis=2)
    return np.asarray(arr.mean(axis=0), dtype=np.float64)


def shares(importance: dict[str, float]) -> dict[str, float]:
    """Each column's share of the total importance (all zero when the total is zero)."""
    total = sum(max(v, 0.0) for v in importance.values())
    if total <= 0:
        return {k: 0.0 for k in importance}
    return {k: max(v, 0.0) / total for k, v in importance.items()}


def permutation_shapley(
    evaluate: Any,
    n_columns: int,
    *,
    permutations: int,
    seed: int = 0,
) -> tuple[FloatArray, FloatArray]:
    """Permutation-sampling Shapley values for one row, as in ``shap.PermutationExplainer``.

    ``evaluate(masks)`` takes a boolean ``(k, n_columns)`` array (True = the row's own value, False =
    background values) and returns the mean model output over the background for each mask, ``(k,)``
    or ``(k, outputs)``. Each permutation is walked forward and back (antithetic sampling); along a
    walk the marginal contributions telescope, so ``base + sum = evaluate(all True)`` holds exactly
    whatever the number of permutations: only the split between columns is approximate.
    Returns ``(values (n_columns[, outputs]), base ([outputs]))``.
    """
    rng = np.random.default_rng(seed)
    masks: list[npt.NDArray[np.bool_]] = []
    orders: list[npt.NDArray[np.int64]] = []
    for _ in range(max(1, permutations)):
        order = rng.permutation(n_columns)
        for walk in (order, order[::-1]):
            orders.append(walk)
            mask = np.zeros(n_columns, dtype=bool)
            masks.append(mask.copy())
            for j in walk:
                mask[j] = True
                masks.append(mask.copy())
    out = np.asarray(evaluate(np.asarray(masks)), dtype=np.float64)
    step = n_columns + 1
    values = np.zeros((n_columns, *out.shape[1:]))
    for w, walk in enumerate(orders):
        chunk = out[w * step : (w + 1) * step]
        values[walk] += np.diff(chunk, axis=0)
    values /= len(orders)
    return values, out[0]
