"""Explanations of predictions: per row, a base value and one attribution per input column.

The flavor's optional ``explain`` capability gives exact attributions (TreeSHAP, linear) when it
knows the model; otherwise a model-agnostic permutation estimate of the Shapley values is computed
against a background drawn from the package's reference sample, under a budget of model
evaluations, and the answer says it is approximate.

For classifiers one output is explained per row: the class asked for (``target``), else the
positive class of a binary model, else the predicted class of the row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from shipyard.core.errors import InvalidArgument, MissingDependency
from shipyard.package.flavors.base import Attribution, Explainer, Predictor
from shipyard.package.flavors.hooks import flavor_named
from shipyard.stats.attribution import mean_abs, permutation_shapley

DEFAULT_BUDGET = 20_000
"""Model evaluations (rows scored) allowed per explained row by the model-agnostic method."""
BACKGROUND_ROWS = 50
"""Rows of the reference sample kept as the background of the model-agnostic method."""
APPROXIMATE_NOTE = (
    "approximate: permutation Shapley values estimated against a background of {rows} reference "
    "rows with {evals} model evaluations per row; base + sum of attributions equals the output "
    "exactly, the split between columns is an estimate"
)


@dataclass(frozen=True)
class Explanation:
    """Attributions of a batch of predictions to the model's input columns."""

    columns: tuple[str, ...]
    predictions: npt.NDArray[Any]
    base_values: npt.NDArray[np.float64]
    """``(rows,)``: the output expected without knowing the row (over the background/training)."""
    attributions: npt.NDArray[np.float64]
    """``(rows, columns)``: base + sum over columns = the explained output of the row."""
    output: str
    """What is explained: ``probability``, ``log-odds``, ``logit``, ``margin`` or ``value``."""
    method: str
    exact: bool
    explained_classes: tuple[Any, ...] | None = None
    """The class whose output is explained, per row (None for regressors)."""
    note: str = ""

    @property
    def outputs(self) -> npt.NDArray[np.float64]:
        """The explained output of each row: ``base + sum(attributions)``."""
        return np.asarray(self.base_values + self.attributions.sum(axis=1), dtype=np.float64)

    def rows(self) -> list[dict[str, Any]]:
        """One plain dict per row (prediction, class explained, base value, attributions)."""
        out: list[dict[str, Any]] = []
        for i in range(len(self.base_values)):
            row: dict[str, Any] = {
                "prediction": _plain(self.predictions[i]),
                "base_value": float(self.base_values[i]),
                "output_value": float(self.outputs[i]),
                "attributions": {
                    c: float(v) for c, v in zip(self.columns, self.attributions[i], strict=True)
                },
            }
            if self.explained_classes is not None:
                row["explained_class"] = _plain(self.explained_classes[i])
            out.append(row)
        return out

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Explanation:
        return explanation_from_dict(doc)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "exact": self.exact,
            "output": self.output,
            "note": self.note,
            "columns": list(self.columns),
            "explanations": self.rows(),
        }


def explanation_from_dict(doc: dict[str, Any]) -> Explanation:
    """The inverse of ``Explanation.to_dict`` (what a client reads from the explain route)."""
    columns = tuple(str(c) for c in doc["columns"])
    rows = doc["explanations"]
    classes = [r.get("explained_class") for r in rows]
    return Explanation(
        columns=columns,
        predictions=np.asarray([r["prediction"] for r in rows]),
        base_values=np.asarray([r["base_value"] for r in rows], dtype=np.float64),
        attributions=np.asarray(
            [[r["attributions"][c] for c in columns] for r in rows], dtype=np.float64
        ).reshape(len(rows), len(columns)),
        output=str(doc["output"]),
        method=str(doc["method"]),
        exact=bool(doc["exact"]),
        explained_classes=tuple(classes) if rows and "explained_class" in rows[0] else None,
        note=str(doc.get("note", "")),
    )


def attribute(
    flavor: str,
    predictor: Predictor,
    data: pd.DataFrame,
    background: pd.DataFrame | None,
    *,
    budget: int = DEFAULT_BUDGET,
    exact_only: bool = False,
) -> Attribution | None:
    """All outputs' attributions: the flavor's exact method, else the permutation estimate."""
    impl = flavor_named(flavor)
    if isinstance(impl, Explainer):
        found = impl.explain(predictor, data, background)
        if found is not None:
            return found
    if exact_only:
        return None
    if background is None or background.empty:
        raise InvalidArgument(
            "this model has no exact explainer and its package has no reference sample to "
            "explain against; package it with X_sample"
        )
    return _permutation(predictor, data, background.head(BACKGROUND_ROWS), budget)


def explain_rows(
    flavor: str,
    predictor: Predictor,
    data: pd.DataFrame,
    background: pd.DataFrame | None,
    *,
    target: object | None = None,
    budget: int = DEFAULT_BUDGET,
) -> Explanation:
    """Explain each row of validated tabular ``data``: one output per row (see the module doc)."""
    attribution = attribute(flavor, predictor, data, background, budget=budget)
    assert attribution is not None
    predictions = (
        attribution.predictions
        if attribution.predictions is not None
        else np.asarray(predictor.predict(data))
    )
    index, explained = _choose_outputs(attribution, predictions, target)
    rows = np.arange(len(data))
    values = attribution.values[rows, :, index]
    base = attribution.base[rows, index]
    note = "exact" if attribution.exact else _note(background, budget, len(data.columns))
    return Explanation(
        columns=tuple(map(str, data.columns.tolist())),
        predictions=predictions,
        base_values=np.asarray(base, dtype=np.float64),
        attributions=np.asarray(values, dtype=np.float64),
        output=attribution.output,
        method=attribution.method,
        exact=attribution.exact,
        explained_classes=explained,
        note=note,
    )


def global_importance(
    flavor: str, predictor: Predictor, sample: pd.DataFrame, background: pd.DataFrame | None
) -> dict[str, Any] | None:
    """Mean |attribution| per input column over ``sample``, when an exact method is available.

    Computed at packaging, so it is only ever exact (cheap and deterministic); None otherwise.
    """
    try:
        attribution = attribute(flavor, predictor, sample, background, exact_only=True)
    except (ImportError, MissingDependency):  # shap not installed: packaging must still work
        return None
    if attribution is None:
        return None
    importance = mean_abs(attribution.values)
    return {
        "method": attribution.method,
        "output": attribution.output,
        "rows": len(sample),
        "columns": {str(c): float(v) for c, v in zip(sample.columns, importance, strict=True)},
    }


def _choose_outputs(
    attribution: Attribution, predictions: npt.NDArray[Any], target: object | None
) -> tuple[npt.NDArray[np.int64], tuple[Any, ...] | None]:
    n = len(predictions)
    outputs = attribution.outputs
    if outputs is None:
        if target is not None:
            raise InvalidArgument("target: this model has no classes to choose from")
        return np.zeros(n, dtype=np.int64), None
    labels = list(outputs)
    if target is not None:
        match = [i for i, c in enumerate(labels) if str(c) == str(target)]
        if not match:
            raise InvalidArgument(f"target: expected one of the classes {labels}, got {target!r}")
        return np.full(n, match[0], dtype=np.int64), tuple([labels[match[0]]] * n)
    if len(labels) == 1 or len(labels) == 2:
        k = len(labels) - 1  # binary: the positive class
        return np.full(n, k, dtype=np.int64), tuple([labels[k]] * n)
    lookup = {str(c): i for i, c in enumerate(labels)}
    index = np.array([lookup.get(str(_plain(p)), 0) for p in predictions], dtype=np.int64)
    return index, tuple(labels[i] for i in index)


def _permutation(
    predictor: Predictor, data: pd.DataFrame, background: pd.DataFrame, budget: int
) -> Attribution:
    m, d = len(background), len(data.columns)
    per_permutation = 2 * (d + 1) * m
    permutations = max(1, budget // per_permutation)
    classes = predictor.classes

    def score(frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        if classes is not None:
            proba = predictor.predict_proba(frame)
            if proba is not None:
                return np.asarray(proba, dtype=np.float64)
        out = np.asarray(predictor.predict(frame), dtype=np.float64)
        return out[:, None] if out.ndim == 1 else out

    values: list[npt.NDArray[np.float64]] = []
    bases: list[npt.NDArray[np.float64]] = []
    for r in range(len(data)):
        row = data.iloc[r]

        def evaluate(masks: npt.NDArray[np.bool_], row: pd.Series = row) -> Any:
            frame = _masked(row, background, masks)
            return score(frame).reshape(len(masks), m, -1).mean(axis=1)

        v, b = permutation_shapley(evaluate, d, permutations=permutations, seed=r)
        values.append(v)
        bases.append(b)
    out_values = np.stack(values)
    output = (
        "probability" if classes is not None and out_values.shape[2] == len(classes) else "value"
    )
    return Attribution(
        values=out_values,
        base=np.stack(bases),
        output=output,
        method="permutation",
        exact=False,
        outputs=tuple(classes) if output == "probability" and classes is not None else None,
    )


def _masked(row: pd.Series, background: pd.DataFrame, masks: npt.NDArray[np.bool_]) -> pd.DataFrame:
    """``len(masks) * len(background)`` rows: the row's value where masked in, background elsewhere."""
    k, m = len(masks), len(background)
    columns: dict[str, Any] = {}
    for j, col in enumerate(background.columns):
        bg = background[col].to_numpy()
        own = np.repeat(masks[:, j], m)
        tiled = np.tile(bg, k)
        value = row[col]
        mixed = tiled.copy()
        mixed[own] = value
        columns[col] = pd.Series(mixed, dtype=background[col].dtype)
    return pd.DataFrame(columns)


def _note(background: pd.DataFrame | None, budget: int, d: int) -> str:
    rows = min(BACKGROUND_ROWS, 0 if background is None else len(background))
    per = 2 * (d + 1) * max(rows, 1)
    evals = max(1, budget // per) * per
    return APPROXIMATE_NOTE.format(rows=rows, evals=evals)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def frame_of(data: object, columns: Sequence[str]) -> pd.DataFrame:
    """Validated model input as a DataFrame (explanations are per named input column)."""
    if isinstance(data, pd.DataFrame):
        return data
    arr = np.asarray(data)
    if arr.ndim != 2:
        raise InvalidArgument("explanations need tabular input (rows of named columns)")
    return pd.DataFrame(arr, columns=list(columns) or [f"f{i}" for i in range(arr.shape[1])])
