"""The flavor interface: how one framework's models are saved, loaded and asked for predictions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import pandas as pd

from shipyard.core.errors import MissingDependency

ModelInput = pd.DataFrame | npt.NDArray[Any]


@dataclass(frozen=True)
class SavedModel:
    """What a flavor reports after writing a model into a package directory."""

    files: tuple[str, ...]
    """Paths relative to the package directory, all written by the flavor."""
    framework: str
    """Distribution name of the framework (``scikit-learn``), for the requirements."""
    framework_version: str
    serialization: str
    """File format, e.g. ``skops``, ``ubj``, ``onnx``; ``pickle`` marks an unsafe package."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Flavor-specific data needed at load time (plain YAML types only)."""
    requirements: tuple[str, ...] = ()
    """Other distributions the model needs at load time (their installed versions are pinned)."""


@runtime_checkable
class Predictor(Protocol):
    """A loaded model. ``classes`` is not None for classifiers that can give probabilities."""

    classes: tuple[Any, ...] | None

    def predict(self, data: ModelInput) -> npt.NDArray[Any]: ...

    def predict_proba(self, data: ModelInput) -> npt.NDArray[Any] | None:
        """Class probabilities (rows x classes), or None when the model has none."""
        ...


@dataclass(frozen=True)
class Attribution:
    """What a flavor's optional ``explain`` returns: Shapley values on the *input* columns.

    ``values`` is ``(rows, columns, outputs)``, ``base`` is ``(rows, outputs)``; for every row and
    output ``base + values.sum(axis=1)`` is the model's output of kind ``output`` (``probability``,
    ``log-odds``, ``margin`` or ``value``). ``outputs`` names the class of each output (None for a
    single regression output). ``predictions`` are the model's own predictions of the rows when
    the explainer computed them on the way (a pipeline's preprocessing then runs once, not twice);
    None lets the caller ask the predictor.
    """

    values: npt.NDArray[np.float64]
    base: npt.NDArray[np.float64]
    output: str
    method: str
    exact: bool
    outputs: tuple[Any, ...] | None = None
    predictions: npt.NDArray[Any] | None = None


@runtime_checkable
class Explainer(Protocol):
    """The optional explain capability of a flavor (plugins may implement it too).

    Returns None when the loaded model is not one the flavor can explain exactly; the caller then
    falls back to a model-agnostic method.
    """

    def explain(
        self, predictor: Predictor, data: pd.DataFrame, background: pd.DataFrame | None
    ) -> Attribution | None: ...


class Flavor(Protocol):
    """Save and load the models of one framework."""

    name: str
    # a flavor whose load imports code shipped in the package sets ``runs_code = True`` (read with
    # getattr, so plugins without the attribute are taken as code-free)

    def accepts(self, model: object) -> bool:
        """Whether this flavor knows how to save ``model`` (cheap: must not import the framework)."""
        ...

    def save(self, model: object, directory: Path, options: Mapping[str, Any]) -> SavedModel: ...

    def load(self, directory: Path, saved: SavedModel, *, allow_pickle: bool) -> Predictor: ...


def module_of(model: object) -> str:
    return type(model).__module__


def mro_modules(model: object) -> list[str]:
    return [cls.__module__ for cls in type(model).__mro__]


def require(module: str, extra: str) -> Any:
    """Import an optional framework or raise MissingDependency with the pip command."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(module.split(".")[0], extra) from exc


def as_numpy(data: ModelInput) -> npt.NDArray[Any]:
    return data.to_numpy() if isinstance(data, pd.DataFrame) else np.asarray(data)


def installed_version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"
