"""The uniform loaded model: one ``predict`` for every flavor, guarded by the signature."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy.typing as npt
import pandas as pd

from shipyard.core.errors import InvalidArgument
from shipyard.package.flavors.base import Predictor
from shipyard.package.manifest import Manifest
from shipyard.package.signature import Signature
from shipyard.stats.profile import DatasetProfile

if TYPE_CHECKING:
    from shipyard.package.explanation import Explanation


class Model:
    """A model loaded from a verified package.

    ``predict`` and ``predict_proba`` accept a DataFrame, a numpy array, a list of records or a dict
    of columns, check it against the signature, and return numpy arrays.
    """

    def __init__(self, manifest: Manifest, predictor: Predictor, directory: Path) -> None:
        self.manifest = manifest
        self.predictor = predictor
        self.directory = directory
        self.signature = Signature.from_dict(manifest.signature)

    def __repr__(self) -> str:
        return f"<shipyard.Model {self.name!r} flavor={self.flavor} digest={self.digest[:19]}>"

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def flavor(self) -> str:
        return self.manifest.flavor.name

    @property
    def digest(self) -> str:
        return self.manifest.digest or ""

    @property
    def classes(self) -> tuple[Any, ...] | None:
        return self.predictor.classes

    def validate(self, data: object) -> pd.DataFrame | npt.NDArray[Any]:
        return self.signature.validate(data)

    def predict(self, data: object) -> npt.NDArray[Any]:
        return self.predictor.predict(self.validate(data))

    def predict_proba(self, data: object) -> npt.NDArray[Any]:
        if self.predictor.classes is None:
            raise InvalidArgument(f"model {self.name!r} ({self.flavor}) gives no probabilities")
        out = self.predictor.predict_proba(self.validate(data))
        if out is None:
            raise InvalidArgument(f"model {self.name!r} ({self.flavor}) gives no probabilities")
        return out

    def input_example(self) -> Any:
        """The stored input example (records for tabular models, nested lists for tensors)."""
        if not self.manifest.input_example:
            return None
        return json.loads((self.directory / self.manifest.input_example).read_text())

    @cached_property
    def _profile_document(self) -> dict[str, Any]:
        if not self.manifest.profile:
            return {}
        return dict(json.loads((self.directory / self.manifest.profile).read_text()))

    @cached_property
    def reference_profiles(self) -> dict[str, DatasetProfile]:
        """``{"inputs": ..., "outputs": ...}`` reference profiles (empty without a sample)."""
        data = self._profile_document
        return {
            key: DatasetProfile.from_dict(data[key]) for key in ("inputs", "outputs") if key in data
        }

    @property
    def importance(self) -> dict[str, Any] | None:
        """Global importance recorded at packaging (``{"method", "output", "rows", "columns"}``),
        or None for packages made without a sample, an exact explainer, or before it existed."""
        found = self._profile_document.get("explain", {}).get("importance")
        return dict(found) if found else None

    @cached_property
    def background(self) -> pd.DataFrame | None:
        """Reference rows to explain against: the packaged background, else the input example."""
        rows = self._profile_document.get("explain", {}).get("background") or self.input_example()
        if not rows or self.signature.kind != "columns":
            return None
        validated = self.validate(rows)
        return validated if isinstance(validated, pd.DataFrame) else None

    def explain(
        self, data: object, *, target: object | None = None, budget: int | None = None
    ) -> Explanation:
        """Attributions of each row's prediction to the input columns (see ``Explanation``)."""
        return self.explain_validated(self.validate(data), target=target, budget=budget)

    def explain_validated(
        self,
        data: pd.DataFrame | npt.NDArray[Any],
        *,
        target: object | None = None,
        budget: int | None = None,
    ) -> Explanation:
        """``explain`` on input that ``validate`` already returned (a server validated it)."""
        from shipyard.package.explanation import DEFAULT_BUDGET, explain_rows, frame_of

        frame = frame_of(data, [c.name for c in self.signature.columns])
        return explain_rows(
            self.flavor,
            self.predictor,
            frame,
            self.background,
            target=target,
            budget=budget or DEFAULT_BUDGET,
        )
