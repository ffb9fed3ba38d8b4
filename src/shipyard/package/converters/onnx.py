"""scikit-learn, XGBoost and LightGBM models converted to ONNX (skl2onnx, onnxmltools).

``convert`` returns the ONNX model and the ONNX flavor's options; ``compare`` measures how far
the converted model's predictions are from the original's on the same rows. Numeric inputs are fed
as one float tensor (trees compare float32 thresholds anyway); mixed tables get one input per
column (float, int64 or string), as skl2onnx converts a ``ColumnTransformer``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from shipyard.core.errors import InvalidArgument, PackageError, ShipyardError
from shipyard.package.flavors.base import require
from shipyard.package.model import Model

PROBABILITY_TOLERANCE = 1e-5
"""Largest absolute difference allowed on probabilities (and regression values, relative to
max(1, |value|)); predicted labels must be equal."""
TARGET_OPSET = 17


@dataclass(frozen=True)
class Comparison:
    rows: int
    labels_equal: bool
    max_difference: float
    """Largest |probability difference| (regressors: relative value difference)."""

    @property
    def matches(self) -> bool:
        return self.labels_equal and self.max_difference <= PROBABILITY_TOLERANCE


def convert(model: Model, sample: pd.DataFrame) -> tuple[Any, dict[str, Any]]:
    """``(onnx.ModelProto, flavor options)`` for a loaded sklearn/xgboost/lightgbm model."""
    flavor = model.flavor
    predictor: Any = model.predictor
    options: dict[str, Any] = {}
    if model.classes is not None:
        options["classes"] = list(model.classes)
    numeric = all(pd.api.types.is_numeric_dtype(t) for t in sample.dtypes)
    try:
        if flavor == "sklearn":
            skl2onnx = require("skl2onnx", "onnx")
            zipmap = {"zipmap": False} if model.classes is not None else None
            estimator = predictor.model
            onnx_options = {id(estimator): zipmap} if zipmap else None
            if numeric:
                proto = skl2onnx.to_onnx(
                    estimator,
                    sample.to_numpy(np.float32)[:1],
                    options=onnx_options,
                    target_opset=TARGET_OPSET,
                )
            else:
                proto = skl2onnx.to_onnx(
                    estimator,
                    _typed_sample(sample),
                    options=onnx_options,
                    target_opset=TARGET_OPSET,
                )
        elif flavor in ("xgboost", "lightgbm"):
            if not numeric:
                raise InvalidArgument(f"{flavor} models convert to ONNX with numeric inputs only")
            tools = require("onnxmltools", "onnx")
            types = require("onnxmltools.convert.common.data_types", "onnx")
            initial = [("input", types.FloatTensorType([None, sample.shape[1]]))]
            if flavor == "xgboost":
                proto = tools.convert_xgboost(_xgboost_for_onnx(predictor), initial_types=initial)
            else:
                proto = tools.convert_lightgbm(
                    predictor.booster,
                    initial_types=initial,
                    zipmap=False,
                )
        else:
            raise InvalidArgument(
                f"convert --to onnx takes sklearn, xgboost and lightgbm models; this one is {flavor}"
            )
    except ShipyardError:  # our own refusals and MissingDependency, as they are
        raise
    except Exception as exc:  # converters raise RuntimeError/NameError/... for what they lack
        raise PackageError(f"{flavor} model cannot be converted to ONNX: {exc}") from exc
    return proto, options


def compare(parent: Model, converted: Model, sample: pd.DataFrame) -> Comparison:
    """How far ``converted`` predicts from ``parent`` on ``sample``."""
    want = parent.predict(sample)
    got = converted.predict(sample)
    if parent.classes is not None:
        labels_equal = np.array_equal(np.asarray(want).astype(str), np.asarray(got).astype(str))
        diff = np.abs(parent.predict_proba(sample) - converted.predict_proba(sample))
        worst = float(diff.max()) if diff.size else 0.0
    else:
        labels_equal = True
        a, b = np.asarray(got, dtype=np.float64).ravel(), np.asarray(want, dtype=np.float64).ravel()
        worst = float((np.abs(a - b) / np.maximum(1.0, np.abs(b))).max()) if b.size else 0.0
    return Comparison(len(sample), labels_equal, worst)


def _typed_sample(sample: pd.DataFrame) -> pd.DataFrame:
    """Numeric columns as float32 (or int64) so skl2onnx declares one typed input per column."""
    out = sample.copy()
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].astype(np.float32)
    return out


def _xgboost_for_onnx(predictor: Any) -> Any:
    """onnxmltools reads feature indices from names of the form ``f0``; rename a copy's features."""
    model = predictor.model
    booster = model.get_booster() if hasattr(model, "get_booster") else model
    names = booster.feature_names
    if names and any(n != f"f{i}" for i, n in enumerate(names)):
        import copy

        model = copy.deepcopy(model)
        target = model.get_booster() if hasattr(model, "get_booster") else model
        target.feature_names = [f"f{i}" for i in range(len(names))]
    return model
