"""A loaded, warmed model version: what an endpoint serves."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from shipyard.package.model import Model
from shipyard.registry.entities import ModelVersion

ModelInput = pd.DataFrame | npt.NDArray[Any]

INLINE_MAX_SECONDS = 0.001
"""Predict calls that recently took less than this run inline on the event loop: handing them to a
thread costs more than the call itself (two context switches and the GIL passed back and forth).
Measured in CPU time of the whole process: other processes on a busy machine do not make a cheap
model look slow, and a model that computes on threads of its own counts all of them."""
INLINE_MAX_ROWS = 64
"""Larger inputs always go to the executor, whatever small ones took."""
_EWMA = 0.2


@dataclass(frozen=True)
class Prediction:
    predictions: npt.NDArray[Any]
    probabilities: npt.NDArray[Any] | None = None

    def rows(self, start: int, stop: int) -> Prediction:
        return Prediction(
            self.predictions[start:stop],
            None if self.probabilities is None else self.probabilities[start:stop],
        )


class LoadedVersion:
    """A model version loaded from the registry, with the time it took."""

    def __init__(self, version: ModelVersion, model: Model, load_seconds: float) -> None:
        self.version = version
        self.model = model
        self.load_seconds = load_seconds
        self.loaded_at = time.time()
        self.has_proba = model.classes is not None
        self._argmax = model.manifest.predict_is_argmax and model.classes is not None
        self._classes = np.asarray(model.classes) if model.classes is not None else None
        self.small_call_seconds = float("inf")
        """Moving average of the process CPU time of predict calls on at most INLINE_MAX_ROWS rows
        (inf: none yet)."""

    @property
    def number(self) -> int:
        return self.version.version

    def runs_inline(self, rows: int) -> bool:
        """Whether predicting ``rows`` rows is cheap enough to do on the event loop."""
        return rows <= INLINE_MAX_ROWS and self.small_call_seconds < INLINE_MAX_SECONDS

    def predict(self, data: ModelInput, want_proba: bool) -> Prediction:
        """Predict on already-validated input."""
        started = time.process_time()
        prediction = self._predict(data, want_proba)
        if len(data) <= INLINE_MAX_ROWS:  # races between threads only blur the average
            took = time.process_time() - started
            last = self.small_call_seconds
            self.small_call_seconds = took if last == float("inf") else last + _EWMA * (took - last)
        return prediction

    def _predict(self, data: ModelInput, want_proba: bool) -> Prediction:
        predictor = self.model.predictor
        if want_proba and self._argmax and self._classes is not None:
            # predict == argmax(proba) was checked at packaging: one model call instead of two
            both = np.asarray(predictor.predict_proba(data))
            return Prediction(self._classes[both.argmax(axis=1)], both)
        preds = np.asarray(predictor.predict(data))
        proba = predictor.predict_proba(data) if want_proba and self.has_proba else None
        return Prediction(preds, None if proba is None else np.asarray(proba))

    def warm(self) -> None:
        """Run the stored input example through the model (loads lazy state, fills caches)."""
        example = self.model.input_example()
        if example is not None:
            self.predict(self.model.validate(example), want_proba=self.has_proba)


def concat(parts: list[ModelInput]) -> ModelInput:
    if len(parts) == 1:
        return parts[0]
    frames = [p for p in parts if isinstance(p, pd.DataFrame)]
    if len(frames) == len(parts):
        return pd.concat(frames, ignore_index=True)
    return np.concatenate([np.asarray(p) for p in parts])
