"""scikit-learn models (estimators and pipelines), saved with skops; pickle only on explicit request."""

from __future__ import annotations

import contextlib
import pickle
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from shipyard.core.errors import PackageError, SchemaError, UnsafeFormatError
from shipyard.package.flavors import _skops
from shipyard.package.flavors._skops import import_skops_io
from shipyard.package.flavors.base import (
    Attribution,
    ModelInput,
    Predictor,
    SavedModel,
    installed_version,
    mro_modules,
    require,
)

# skops refuses every type it does not trust by default; we additionally trust scikit-learn's own
# classes (estimators, transformers, their helpers) -- never a list read from the package itself.
TRUSTED_PREFIXES = (
    "sklearn.",
    "numpy.dtype",
    "numpy.float",
    "numpy.int",
    "numpy.bool",
    "numpy.str",
)

PICKLE_HINT = (
    "pickle can run arbitrary code when a file is loaded, so it is off by default; "
    "load with allow_pickle=True (CLI: --allow-pickle, env: SHIPYARD_ALLOW_PICKLE=1) "
    "only if you trust whoever wrote this package"
)


def skip_default_trust() -> None:
    """In a process that only serves: import skops without its default trust list, which
    ``load_skops`` does not use (see ``_skops``)."""
    _skops.skip_default_trust()


def load_skops(path: Path, *, extra_trusted: tuple[str, ...] = ()) -> Any:
    """Read a skops file, trusting scikit-learn's own types (and ``extra_trusted``, exact names),
    never a list read from the file itself."""
    sio = import_skops_io()
    untrusted = list(sio.get_untrusted_types(file=path))
    refused = [
        t for t in untrusted if not t.startswith(TRUSTED_PREFIXES) and t not in extra_trusted
    ]
    if refused:
        raise UnsafeFormatError(
            "the skops file contains types that are not trusted by default: "
            f"{', '.join(sorted(refused))}; review them, then load it with "
            "options={'serialization': 'pickle'} at save time or extend the trust list in a flavor plugin"
        )
    return sio.load(path, trusted=untrusted)


class SklearnPredictor:
    def __init__(self, model: Any) -> None:
        self.model = model
        has_proba = hasattr(model, "predict_proba") and hasattr(model, "classes_")
        self.classes: tuple[Any, ...] | None = (
            tuple(v.item() if isinstance(v, np.generic) else v for v in model.classes_)
            if has_proba
            else None
        )

    def predict(self, data: ModelInput) -> npt.NDArray[Any]:
        with _overflow_is_bad_input():
            return np.asarray(self.model.predict(data))

    def predict_proba(self, data: ModelInput) -> npt.NDArray[Any] | None:
        if self.classes is None:
            return None
        with _overflow_is_bad_input():
            return np.asarray(self.model.predict_proba(data))


@contextlib.contextmanager
def _overflow_is_bad_input() -> Iterator[None]:
    """A finite input so large that it overflows inside the model (1e300 through a scaler) is the
    client's mistake, not the model's: a 400 naming the problem, never counted as a model error."""
    try:
        yield
    except ValueError as exc:
        if "infinity or a value too large" not in str(exc):
            raise
        raise SchemaError(
            f"an input value is too large for this model: it overflows to infinity inside it ({exc})",
            field="inputs",
        ) from exc


class SklearnFlavor:
    name = "sklearn"
    predict_derives_from_proba = True
    """Classifiers predict the class of highest probability: a server may call predict_proba once."""

    def accepts(self, model: object) -> bool:
        return any(m.startswith("sklearn.") for m in mro_modules(model))

    def save(self, model: object, directory: Path, options: Mapping[str, Any]) -> SavedModel:
        serialization = str(options.get("serialization", "skops"))
        if serialization == "skops":
            sio = import_skops_io()
            try:
                sio.dump(model, directory / "model.skops")
            except Exception as exc:  # skops raises TypeError/others for unsupported objects
                raise PackageError(
                    f"skops cannot save this model ({exc}); if you trust every future reader, "
                    "save it with options={'serialization': 'pickle'}"
                ) from exc
            files: tuple[str, ...] = ("model.skops",)
            requirements: tuple[str, ...] = ("skops",)
        elif serialization == "pickle":
            with open(directory / "model.pkl", "wb") as fh:
                pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
            files, requirements = ("model.pkl",), ()
        else:
            raise PackageError(
                f"sklearn serialization must be 'skops' or 'pickle', got {serialization!r}"
            )
        return SavedModel(
            files=files,
            framework="scikit-learn",
            framework_version=installed_version("scikit-learn"),
            serialization=serialization,
            requirements=requirements,
        )

    def load(self, directory: Path, saved: SavedModel, *, allow_pickle: bool) -> Predictor:
        require("sklearn", "sklearn")
        if saved.serialization == "pickle":
            if not allow_pickle:
                raise UnsafeFormatError(f"this package stores its model with pickle; {PICKLE_HINT}")
            with open(directory / "model.pkl", "rb") as fh:
                return SklearnPredictor(pickle.load(fh))
        return SklearnPredictor(load_skops(directory / "model.skops"))

    def explain(
        self, predictor: Predictor, data: pd.DataFrame, background: pd.DataFrame | None
    ) -> Attribution | None:
        """Exact attributions (TreeSHAP or linear), or None for a model they do not cover."""
        from shipyard.package.flavors.explainers import explain_estimator

        if not isinstance(predictor, SklearnPredictor):
            return None
        with _overflow_is_bad_input():  # the explainer runs the pipeline's predict itself
            return explain_estimator(predictor.model, data, background)
