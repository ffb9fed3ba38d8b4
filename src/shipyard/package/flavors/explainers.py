"""Exact attributions for the estimators the built-in flavors save, behind optional preprocessing.

A scikit-learn ``Pipeline`` is split into its preprocessing and its final estimator. The final
estimator is explained on the derived features it sees, by the exact method its family allows:

- scikit-learn trees, forests and gradient boosting: TreeSHAP (``shap.TreeExplainer``, path
  dependent, no background needed);
- XGBoost: the booster's own TreeSHAP (``pred_contribs=True``);
- LightGBM: the booster's own TreeSHAP (``pred_contrib=True``);
- linear models (``coef_`` + ``intercept_``): ``coef * (z - mean(z))`` with the mean over the
  background, which is the exact interventional Shapley value of a linear function.

The derived features are then folded back onto the input columns they were computed from
(:func:`derived_owners`); when that mapping cannot be read off the preprocessing, nothing is
returned and the caller falls back to a model-agnostic method on the input columns themselves.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from shipyard.package.flavors.base import Attribution, require
from shipyard.stats.attribution import fold

_TREE_EXPLAINERS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
"""One ``shap.TreeExplainer`` per loaded estimator: building it parses every tree."""

_BACKGROUND_MEANS: weakref.WeakKeyDictionary[Any, tuple[Any, Any]] = weakref.WeakKeyDictionary()
"""Linear models: the background frame and the mean of its derived features."""

_OWNERS: weakref.WeakKeyDictionary[Any, tuple[tuple[str, ...], list[int] | None]] = (
    weakref.WeakKeyDictionary()
)
"""Pipelines: the input column of each derived feature (reading it costs more than the math)."""
_SINGLE_THREADED: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

MIXING_MODULES = ("sklearn.decomposition", "sklearn.cross_decomposition", "sklearn.kernel_approx")


def split_pipeline(model: Any) -> tuple[list[Any], Any]:
    """``(preprocessing steps, final estimator)`` of a scikit-learn Pipeline, or ``([], model)``."""
    steps = getattr(model, "steps", None)
    if isinstance(steps, list) and steps and type(model).__name__ == "Pipeline":
        pre = [step for _, step in steps[:-1] if step not in (None, "passthrough")]
        return pre, steps[-1][1]
    return [], model


def explain_estimator(
    model: Any,
    data: pd.DataFrame,
    background: pd.DataFrame | None,
    *,
    classes: Sequence[Any] | None = None,
) -> Attribution | None:
    """Exact attributions of ``model`` on ``data`` per input column, or None if not exact here."""
    pre, final = split_pipeline(model)
    columns = list(map(str, data.columns.tolist()))  # tolist: iterating an Index is slower
    z: Any = data
    cached = _OWNERS.get(model) if pre else None
    known = cached is not None and cached[0] == tuple(columns)
    owners: list[int] | None = (
        cached[1] if cached is not None and known else list(range(len(columns)))
    )
    for step in pre:
        z_next = step.transform(z)
        if not known:
            owners = _compose(owners, _step_owners(step, _names_of(z), _width(z_next)))
        z = z_next
    if pre and not known:
        _OWNERS[model] = (tuple(columns), owners)
    if owners is None:
        return None
    kind = _family(final)
    if kind is None:
        return None
    # what Pipeline.predict computes, on the features already transformed for the explanation
    predictions = np.asarray(final.predict(z)) if pre else None
    raw: Raw | None
    if kind == "linear":
        raw = _linear(final, _dense(z), _background_mean(final, pre, background, data))
    elif kind == "xgboost":
        raw = _xgboost(final, z, columns if not pre else None)
        if raw is not None and not pre and raw[3] is not None:
            owners = [columns.index(n) for n in raw[3]]
    elif kind == "lightgbm":
        raw = _lightgbm(final, z, columns if not pre else None)
        if raw is not None and not pre and raw[3] is not None:
            owners = [columns.index(n) for n in raw[3]]
    else:
        raw = _tree(final, _dense(z))
    if raw is None:
        return None
    values, base, output, _ = raw
    if values.shape[1] != len(owners):
        return None
    folded = fold(values, owners, len(columns))
    if classes is None:
        classes = getattr(final, "classes_", None)
    outputs = _output_classes(classes, values.shape[2])
    method = {"linear": "linear"}.get(kind, "tree_shap")
    return Attribution(folded, base, output, method, True, outputs, predictions)


# -- families ----------------------------------------------------------------------------------------


def _family(final: Any) -> str | None:
    module = type(final).__module__
    if module.startswith("xgboost"):
        return "xgboost"
    if module.startswith("lightgbm"):
        return "lightgbm"
    if module.startswith(("sklearn.ensemble", "sklearn.tree")):
        if type(final).__name__.startswith(("HistGradient", "Voting", "Stacking", "Bagging")):
            return None
        if "AdaBoost" in type(final).__name__:
            return None
        return "tree"
    if (
        module.startswith(("sklearn.linear_model", "sklearn.svm"))
        and hasattr(final, "coef_")
        and hasattr(final, "intercept_")
        and np.ndim(final.coef_) in (1, 2)
    ):
        return "linear"
    return None


Raw = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], str, list[str] | None]


def _tree(final: Any, z: npt.NDArray[Any]) -> Raw | None:
    explainer = _TREE_EXPLAINERS.get(final)
    if explainer is None:
        shap = require("shap", "explain")
        try:
            explainer = shap.TreeExplainer(final)
        except Exception:  # a tree model shap does not know: fall back
            return None
        _TREE_EXPLAINERS[final] = explainer
    values = np.asarray(explainer.shap_values(z, check_additivity=False), dtype=np.float64)
    if values.ndim == 2:
        values = values[:, :, None]
    base = np.atleast_1d(np.asarray(explainer.expected_value, dtype=np.float64))
    is_classifier = hasattr(final, "classes_")
    if not is_classifier:
        output = "value"
    elif type(final).__name__.startswith("GradientBoosting"):
        output = "log-odds"
    else:
        output = "probability"
    return values, np.tile(base, (len(z), 1)), output, None


def _background_mean(
    final: Any, pre: list[Any], background: pd.DataFrame | None, data: pd.DataFrame
) -> npt.NDArray[np.float64]:
    """Mean of the derived features over the background (cached: a package's is fixed)."""
    if background is None:
        background = data
    cached = _BACKGROUND_MEANS.get(final)
    if cached is not None and cached[0] is background:
        return np.asarray(cached[1], dtype=np.float64)
    zb: Any = background
    for step in pre:
        zb = step.transform(zb)
    mean = np.asarray(_dense(zb).mean(axis=0), dtype=np.float64)
    _BACKGROUND_MEANS[final] = (background, mean)
    return mean


def _linear(final: Any, z: npt.NDArray[Any], mean: npt.NDArray[np.float64]) -> Raw:
    coef = np.atleast_2d(np.asarray(final.coef_, dtype=np.float64))  # (outputs, derived)
    intercept = np.atleast_1d(np.asarray(final.intercept_, dtype=np.float64))
    values = (z - mean)[:, :, None] * coef.T[None, :, :]
    base = intercept + coef @ mean
    if not hasattr(final, "classes_"):
        output = "value"
    elif type(final).__name__ == "LogisticRegression":
        output = "log-odds" if coef.shape[0] == 1 else "logit"
    else:
        output = "margin"
    return values, np.tile(base, (len(z), 1)), output, None


def _xgboost(final: Any, z: Any, columns: list[str] | None) -> Raw | None:
    xgb = require("xgboost", "xgboost")
    booster = _single_threaded(final if isinstance(final, xgb.Booster) else final.get_booster())
    names = list(booster.feature_names) if booster.feature_names else None
    if isinstance(z, pd.DataFrame) and names and set(names) == set(map(str, z.columns)):
        z = z.rename(columns=str)[names]
    else:
        names = None
    if isinstance(z, pd.DataFrame) and all(t.kind in "biuf" for t in z.dtypes):
        z = z.to_numpy(np.float32)  # far cheaper than xgboost's DataFrame ingestion
    if isinstance(z, pd.DataFrame):
        matrix = xgb.DMatrix(z, enable_categorical=True)
    else:
        matrix = xgb.DMatrix(_dense(z), feature_names=booster.feature_names, nthread=1)
    contribs = np.asarray(booster.predict(matrix, pred_contribs=True), dtype=np.float64)
    if contribs.ndim == 2:
        contribs = contribs[:, None, :]  # (rows, outputs, derived + bias)
    values = np.transpose(contribs[:, :, :-1], (0, 2, 1))
    return values, contribs[:, :, -1], "margin", names if columns is not None else None


def _single_threaded(booster: Any) -> Any:
    """A cached copy of the booster that computes on one thread.

    xgboost uses every core by default; for the small batches explained per request the thread
    start-up dominates (30x slower for one row on a busy 2-core machine) and competes with the
    server's own threads. A copy keeps the served booster's settings untouched.
    """
    copy = _SINGLE_THREADED.get(booster)
    if copy is None:
        copy = booster.copy()
        copy.set_param({"nthread": 1})
        _SINGLE_THREADED[booster] = copy
    return copy


def _lightgbm(final: Any, z: Any, columns: list[str] | None) -> Raw | None:
    booster = getattr(final, "booster_", final)
    names = [str(n) for n in booster.feature_name()]
    names_out: list[str] | None = None
    if isinstance(z, pd.DataFrame):
        spelled = {"_".join(str(c).split(" ")): str(c) for c in z.columns}
        if set(names) == set(spelled):
            z = z.rename(columns=lambda c: "_".join(str(c).split(" ")))[names]
            names_out = [spelled[n] for n in names]
    raw = np.asarray(booster.predict(z, pred_contrib=True), dtype=np.float64)
    width = booster.num_feature() + 1
    outputs = raw.shape[1] // width
    contribs = raw.reshape(len(raw), outputs, width)
    values = np.transpose(contribs[:, :, :-1], (0, 2, 1))
    return values, contribs[:, :, -1], "margin", names_out if columns is not None else None


# -- derived features -> input columns -------------------------------------------------------------


def _names_of(z: Any) -> list[str] | None:
    return [str(c) for c in z.columns] if isinstance(z, pd.DataFrame) else None


def _width(z: Any) -> int:
    return int(z.shape[1])


def _dense(z: Any) -> npt.NDArray[np.float64]:
    if isinstance(z, pd.DataFrame):
        return z.to_numpy(dtype=np.float64, na_value=np.nan)  # 40x cheaper than np.asarray(z)
    if hasattr(z, "toarray"):
        z = z.toarray()
    return np.asarray(z, dtype=np.float64)


def _compose(owners: list[int] | None, local: list[int] | None) -> list[int] | None:
    if owners is None or local is None:
        return None
    return [owners[i] for i in local]


def _step_owners(step: Any, names_in: Sequence[str] | None, n_out: int) -> list[int] | None:
    """For each output feature of a fitted transformer, the index of the input feature it is from."""
    if type(step).__name__ == "ColumnTransformer":
        return _column_transformer_owners(step, n_out)
    if type(step).__name__ == "Pipeline":
        n_in = int(getattr(step, "n_features_in_", 0))
        if not n_in:
            return None
        owners: list[int] | None = list(range(n_in))
        for _, sub in step.steps:
            if sub in (None, "passthrough"):
                continue
            owners = _compose(owners, _transformer_owners(sub, None))
        return owners
    return _transformer_owners(step, names_in)


def _column_transformer_owners(ct: Any, n_out: int) -> list[int] | None:
    names_in = [str(n) for n in getattr(ct, "feature_names_in_", [])]
    n_in = int(getattr(ct, "n_features_in_", len(names_in)))
    owners: list[int | None] = [None] * n_out
    for name, trans, cols in ct.transformers_:
        piece = ct.output_indices_.get(name)
        if piece is None or piece.stop <= piece.start:
            continue
        idx = _column_indices(cols, names_in, n_in)
        if idx is None:
            return None
        width = piece.stop - piece.start
        if trans == "passthrough" or len(idx) == 1:
            local: list[int] | None = list(range(width)) if trans == "passthrough" else [0] * width
        elif type(trans).__name__ == "Pipeline":
            local = _step_owners(trans, None, width)
        else:
            local = _transformer_owners(trans, None)
        if local is None or len(local) != width:
            return None
        for k, j in enumerate(local):
            owners[piece.start + k] = idx[j]
    if any(o is None for o in owners):
        return None
    return [int(o) for o in owners if o is not None]


def _column_indices(cols: Any, names_in: list[str], n_in: int) -> list[int] | None:
    if isinstance(cols, slice):
        return list(range(n_in))[cols]
    arr = np.atleast_1d(np.asarray(cols))
    if arr.dtype == bool:
        return [int(i) for i in np.flatnonzero(arr)]
    if arr.dtype.kind in "iu":
        return [int(i) for i in arr]
    try:
        return [names_in.index(str(c)) for c in arr]
    except ValueError:
        return None


def _transformer_owners(trans: Any, names_in: Sequence[str] | None) -> list[int] | None:
    """Read the mapping off ``get_feature_names_out``: each output name contains its input's name."""
    if type(trans).__module__.startswith(MIXING_MODULES) or not hasattr(
        trans, "get_feature_names_out"
    ):
        return None
    inputs = getattr(trans, "feature_names_in_", None)
    n_in = int(getattr(trans, "n_features_in_", 0))
    try:
        if inputs is not None:
            base = [str(n) for n in inputs]
            out = [str(n) for n in trans.get_feature_names_out()]
        else:
            base = [f"x{i}" for i in range(n_in)]
            out = [str(n) for n in trans.get_feature_names_out(base)]
    except Exception:  # transformers without a names contract
        return None
    owners: list[int] = []
    for name in out:
        found = [
            i
            for i, col in enumerate(base)
            if name == col or name.startswith(col + "_") or name.endswith("_" + col)
        ]
        if not found:
            return None
        owners.append(max(found, key=lambda i: len(base[i])))
    return owners


def _output_classes(classes: Any, n_outputs: int) -> tuple[Any, ...] | None:
    if classes is None:
        return None
    labels = tuple(c.item() if isinstance(c, np.generic) else c for c in classes)
    if n_outputs == len(labels):
        return labels
    if n_outputs == 1 and len(labels) == 2:
        return (labels[1],)
    return None
