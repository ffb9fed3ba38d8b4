"""Real fake models for tests (yours and ours): plain ``python``-flavor classes with known behaviour.

from shipyard.testing import ThresholdModel
shipyard.log_model(ThresholdModel(column="x", threshold=0.5), name="t", X_sample=frame)
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd


def _column(data: Any, column: str) -> npt.NDArray[np.float64]:
    if isinstance(data, pd.DataFrame):
        return data[column].to_numpy(dtype=np.float64)
    return np.asarray(data, dtype=np.float64)[:, 0]


class ThresholdModel:
    """A classifier: 1 where ``column`` exceeds ``threshold``; probabilities from a logistic curve."""

    def __init__(self, column: str = "x", threshold: float = 0.0, scale: float = 1.0) -> None:
        self.column = column
        self.threshold = threshold
        self.scale = scale
        self.classes_ = np.array([0, 1])

    def predict(self, data: Any) -> npt.NDArray[np.int64]:
        return (_column(data, self.column) > self.threshold).astype(np.int64)

    def predict_proba(self, data: Any) -> npt.NDArray[np.float64]:
        z = np.clip((_column(data, self.column) - self.threshold) / self.scale, -500, 500)
        p1 = 1.0 / (1.0 + np.exp(-z))
        return np.column_stack([1.0 - p1, p1])


class FailingModel(ThresholdModel):
    """Raises ``RuntimeError`` when any row's ``column`` is above ``fail_above``."""

    def __init__(self, column: str = "x", threshold: float = 0.0, fail_above: float = 1.0) -> None:
        super().__init__(column, threshold)
        self.fail_above = fail_above

    def predict(self, data: Any) -> npt.NDArray[np.int64]:
        if np.any(_column(data, self.column) > self.fail_above):
            raise RuntimeError(f"{self.column} above {self.fail_above}")
        return super().predict(data)


class SlowModel(ThresholdModel):
    """Sleeps ``delay_s`` per call before answering like ``ThresholdModel``."""

    def __init__(self, column: str = "x", threshold: float = 0.0, delay_s: float = 0.05) -> None:
        super().__init__(column, threshold)
        self.delay_s = delay_s

    def predict(self, data: Any) -> npt.NDArray[np.int64]:
        time.sleep(self.delay_s)
        return super().predict(data)
