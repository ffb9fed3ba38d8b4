"""lightgbm models (scikit-learn estimators and raw boosters), saved in lightgbm's text format.

Only the booster is written (``model.txt``, from ``Booster.save_model``), never a pickle. At load a
``lightgbm.Booster`` is read from that file and the scikit-learn behaviour is rebuilt around it from
the manifest options: for a classifier the class labels (any plain values, strings included) map the
booster's probabilities back to labels exactly as ``LGBMClassifier.predict`` does (argmax, first
class on ties), and a binary booster's single probability becomes two columns.
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

MODEL_FILE = "model.txt"
KINDS = ("classifier", "regressor", "ranker", "booster")


class LightGBMPredictor:
    """A lightgbm booster; ``classes`` is set when it was saved from an ``LGBMClassifier``."""

    def __init__(
        self,
        booster: Any,
        *,
        classes: Sequence[Any] | None,
        feature_names: Sequence[str] | None,
    ) -> None:
        self.booster = booster
        self.classes: tuple[Any, ...] | None = tuple(classes) if classes is not None else None
        self._labels = np.asarray(classes) if classes is not None else None
        self.feature_names = list(feature_names) if feature_names else None

    def _prepare(self, data: ModelInput) -> ModelInput:
        """Put DataFrame columns in training order when the names (or lightgbm's spelling) match."""
        names = self.feature_names
        if not isinstance(data, pd.DataFrame) or not names:
            return data
        for spelling in (str, _lightgbm_spelling):
            renamed = data.rename(columns=spelling)
            if set(names) == set(renamed.columns):
                return renamed[names]
        return data

    def predict(self, data: ModelInput) -> npt.NDArray[Any]:
        if self._labels is None:
            return np.asarray(self.booster.predict(self._prepare(data)))
        proba = self._proba(data)
        return np.asarray(self._labels[np.argmax(proba, axis=1)])

    def predict_proba(self, data: ModelInput) -> npt.NDArray[Any] | None:
        if self._labels is None:
            return None
        return self._proba(data)

    def _proba(self, data: ModelInput) -> npt.NDArray[Any]:
        raw = np.asarray(self.booster.predict(self._prepare(data)))
        return np.vstack((1.0 - raw, raw)).transpose() if raw.ndim == 1 else raw


class LightGBMFlavor:
    name = "lightgbm"
    predict_derives_from_proba = True
    """Classifiers predict the class of highest probability: a server may call predict_proba once."""

    def accepts(self, model: object) -> bool:
        return any(m == "lightgbm" or m.startswith("lightgbm.") for m in mro_modules(model))

    def save(self, model: object, directory: Path, options: Mapping[str, Any]) -> SavedModel:
        lgb = require("lightgbm", "lightgbm")
        kind = _kind(model, lgb)
        saved_options: dict[str, Any] = {"estimator": kind}
        if kind == "booster":
            booster: Any = model
        else:
            booster = getattr(model, "booster_", None) if _is_fitted(model) else None
            if booster is None:
                raise PackageError(
                    "the lightgbm estimator is not fitted; call fit before saving it"
                )
            names = getattr(model, "feature_names_in_", None)
            if names is not None:
                saved_options["feature_names"] = [str(n) for n in names]
        if kind == "classifier":
            if callable(getattr(model, "objective", None)):
                raise PackageError(
                    "this LGBMClassifier uses a custom objective function, which lightgbm cannot "
                    "save: its predictions are raw scores, not probabilities of known classes"
                )
            saved_options["classes"] = [_plain(c) for c in model.classes_]  # type: ignore[attr-defined]
        booster.save_model(str(directory / MODEL_FILE))
        return SavedModel(
            files=(MODEL_FILE,),
            framework="lightgbm",
            framework_version=installed_version("lightgbm"),
            serialization="lightgbm-text",
            options=saved_options,
        )

    def load(self, directory: Path, saved: SavedModel, *, allow_pickle: bool) -> Predictor:
        lgb = require("lightgbm", "lightgbm")
        kind = saved.options.get("estimator", "booster")
        if kind not in KINDS:
            raise PackageError(f"unknown lightgbm estimator kind {kind!r}; expected one of {KINDS}")
        try:
            booster = lgb.Booster(model_file=str(directory / MODEL_FILE))
        except Exception as exc:  # lightgbm raises LightGBMError for an unreadable file
            raise PackageError(f"lightgbm cannot read {MODEL_FILE}: {exc}") from exc
        classes = saved.options.get("classes") if kind == "classifier" else None
        return LightGBMPredictor(
            booster,
            classes=list(classes) if classes is not None else None,
            feature_names=saved.options.get("feature_names"),
        )

    def explain(
        self, predictor: Predictor, data: pd.DataFrame, background: pd.DataFrame | None
    ) -> Attribution | None:
        """Exact attributions (TreeSHAP or linear), or None for a model they do not cover."""
        from shipyard.package.flavors.explainers import explain_estimator

        if not isinstance(predictor, LightGBMPredictor):
            return None
        return explain_estimator(predictor.booster, data, background, classes=predictor.classes)


def _kind(model: object, lgb: Any) -> str:
    if isinstance(model, lgb.Booster):
        return "booster"
    for cls, kind in (
        (lgb.LGBMClassifier, "classifier"),
        (lgb.LGBMRanker, "ranker"),
        (lgb.LGBMRegressor, "regressor"),
    ):
        if isinstance(model, cls):
            return kind
    raise PackageError(
        "the lightgbm flavor saves Booster, LGBMClassifier, LGBMRegressor and LGBMRanker; "
        f"got {type(model).__module__}.{type(model).__qualname__}"
    )


def _is_fitted(model: object) -> bool:
    fitted = getattr(model, "__sklearn_is_fitted__", None)
    return bool(fitted()) if callable(fitted) else False


def _lightgbm_spelling(name: object) -> str:
    """Column name as lightgbm stores it for a DataFrame (spaces become underscores)."""
    return "_".join(str(name).split(" "))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
