"""xgboost models (scikit-learn estimators and raw boosters), saved in xgboost's own UBJSON format.

The model is written with ``save_model`` to ``model.ubj``: trees, objective and the scikit-learn
wrapper's metadata, no pickle. To rebuild a scikit-learn estimator the manifest records its class
name, which must be one of :data:`ESTIMATORS`; at load the class is looked up in that allow-list and
taken from the ``xgboost`` package, never imported from a name read in the package.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from shipyard.core.errors import PackageError
from shipyard.package.flavors.base import (
    Attribution,
    ModelInput,
    Predictor,
    SavedModel,
    installed_version,
    mro_modules,
    require,
)

MODEL_FILE = "model.ubj"
BOOSTER = "Booster"
ESTIMATORS = ("XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor")
"""The scikit-learn wrappers rebuilt at load; a subclass is saved as its xgboost base class."""


class XGBoostPredictor:
    """Predictions of a reloaded estimator, or ``inplace_predict`` of a raw booster."""

    def __init__(
        self,
        model: Any,
        *,
        is_booster: bool,
        classes: Sequence[Any] | None,
        feature_names: Sequence[str] | None,
    ) -> None:
        self.model = model
        self.is_booster = is_booster
        self.feature_names = list(feature_names) if feature_names else None
        self.classes: tuple[Any, ...] | None = tuple(classes) if classes is not None else None

    def _prepare(self, data: ModelInput) -> ModelInput:
        """Put DataFrame columns in training order when the names allow it."""
        names = self.feature_names
        if isinstance(data, pd.DataFrame) and names and set(names) == set(map(str, data.columns)):
            return data.rename(columns=str)[names]
        return data

    def predict(self, data: ModelInput) -> npt.NDArray[Any]:
        prepared = self._prepare(data)
        if self.is_booster:
            return np.asarray(self.model.inplace_predict(prepared))
        return np.asarray(self.model.predict(prepared))

    def predict_proba(self, data: ModelInput) -> npt.NDArray[Any] | None:
        if self.classes is None or self.is_booster:
            return None
        return np.asarray(self.model.predict_proba(self._prepare(data)))


class XGBoostFlavor:
    name = "xgboost"
    predict_derives_from_proba = True
    """Classifiers predict the class of highest probability: a server may call predict_proba once."""

    def accepts(self, model: object) -> bool:
        return any(m == "xgboost" or m.startswith("xgboost.") for m in mro_modules(model))

    def save(self, model: object, directory: Path, options: Mapping[str, Any]) -> SavedModel:
        xgb = require("xgboost", "xgboost")
        estimator = _estimator_name(model, xgb)
        try:
            model.save_model(str(directory / MODEL_FILE))  # type: ignore[attr-defined]
        except Exception as exc:  # an unfitted estimator raises NotFittedError, others XGBoostError
            raise PackageError(f"xgboost cannot save this {estimator}: {exc}") from exc
        booster: Any = model if estimator == BOOSTER else model.get_booster()  # type: ignore[attr-defined]
        saved_options: dict[str, Any] = {"estimator": estimator}
        if booster.feature_names:
            saved_options["feature_names"] = [str(n) for n in booster.feature_names]
        classes = getattr(model, "classes_", None) if hasattr(model, "predict_proba") else None
        if classes is not None:
            saved_options["classes"] = [_plain(c) for c in classes]
        return SavedModel(
            files=(MODEL_FILE,),
            framework="xgboost",
            framework_version=installed_version("xgboost"),
            serialization="ubj",
            options=saved_options,
        )

    def load(self, directory: Path, saved: SavedModel, *, allow_pickle: bool) -> Predictor:
        xgb = require("xgboost", "xgboost")
        estimator = str(saved.options.get("estimator", BOOSTER))
        if estimator != BOOSTER and estimator not in ESTIMATORS:
            raise PackageError(
                f"unknown xgboost estimator {estimator!r}; expected one of "
                f"{', '.join((BOOSTER, *ESTIMATORS))}"
            )
        path = str(directory / MODEL_FILE)
        model = xgb.Booster() if estimator == BOOSTER else getattr(xgb, estimator)()
        try:
            model.load_model(path)
        except Exception as exc:
            raise PackageError(f"xgboost cannot read {MODEL_FILE}: {exc}") from exc
        classes = saved.options.get("classes")
        return XGBoostPredictor(
            model,
            is_booster=estimator == BOOSTER,
            classes=list(classes) if classes is not None else None,
            feature_names=saved.options.get("feature_names"),
        )

    def explain(
        self, predictor: Predictor, data: pd.DataFrame, background: pd.DataFrame | None
    ) -> Attribution | None:
        """Exact attributions (TreeSHAP or linear), or None for a model they do not cover."""
        from shipyard.package.flavors.explainers import explain_estimator

        if not isinstance(predictor, XGBoostPredictor):
            return None
        return explain_estimator(predictor.model, data, background, classes=predictor.classes)


def _estimator_name(model: object, xgb: Any) -> str:
    """The allow-listed xgboost class that ``model`` is an instance of (nearest in its MRO)."""
    if isinstance(model, xgb.Booster):
        return BOOSTER
    for cls in type(model).__mro__:
        if cls.__name__ in ESTIMATORS and cls is getattr(xgb, cls.__name__, None):
            return str(cls.__name__)
    raise PackageError(
        f"the xgboost flavor saves {', '.join((BOOSTER, *ESTIMATORS))}; "
        f"got {type(model).__module__}.{type(model).__qualname__}"
    )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
