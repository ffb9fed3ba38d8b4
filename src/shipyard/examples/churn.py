"""A synthetic churn problem whose world changes: the data behind ``shipyard demo``.

``generate`` draws customers; with ``drifted=True`` usage moves up and the plan mix shifts (data
drift), and the relationship between usage and churn flips and sharpens (concept drift): before, light
users leave; after, heavy users do. A model trained before the change is then right about half the
time (about 0.5 accuracy), and one retrained on labels from after the change about 0.85 of the time,
so the gain is large enough to show on a few hundred held-out rows. The same seed gives the same
rows. ``train`` is the retraining entrypoint the demo's policy runs
(``shipyard.examples.churn:train``); ``BrokenModel`` is the demo's deliberately bad challenger.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

PLANS = ["basic", "plus", "pro"]


def generate(
    n: int, seed: int, *, drifted: bool = False
) -> tuple[pd.DataFrame, npt.NDArray[np.int64]]:
    rng = np.random.default_rng(seed)
    usage = rng.normal(5.0 if drifted else 2.0, 1.5, n)
    tenure = rng.exponential(24.0, n)
    support = rng.poisson(1.5, n).astype(np.int64)
    plan = rng.choice(PLANS, n, p=[0.2, 0.3, 0.5] if drifted else [0.5, 0.3, 0.2])
    frame = pd.DataFrame({"usage": usage, "tenure": tenure, "support_calls": support, "plan": plan})
    if drifted:  # heavy users now leave: the sign of usage flips, and it matters more
        logit = 3.0 * (usage - 5.0) + 0.6 * (support - 1.5) - 0.02 * (tenure - 24.0)
    else:
        logit = (
            -1.5 * (usage - 2.0) + 0.6 * (support - 1.5) - 0.02 * tenure + 0.4 * (plan == "basic")
        )
    churn = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return frame, churn


def build() -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), ["usage", "tenure", "support_calls"]),
            ("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
        ]
    )
    return Pipeline([("pre", pre), ("lr", LogisticRegression(max_iter=1000))])


def train(window: pd.DataFrame, reference: dict[str, Any]) -> Any:
    """Retraining entrypoint: fit a fresh pipeline on the labelled window."""
    X = window.drop(columns=["label"])
    return build().fit(X, window["label"].astype(int))


class BrokenModel:
    """A deliberately bad challenger: it crashes on every customer it was never tested on (usage above
    ``limit``), which after the change is nearly every request of the demo's traffic, so its canary
    fails the success-rate gate on its first analysis, every time."""

    def __init__(self, limit: float = 4.0) -> None:
        self.limit = limit
        self.classes_ = np.array([0, 1])

    def predict(self, data: pd.DataFrame) -> npt.NDArray[np.int64]:
        if (data["usage"] > self.limit).any():
            raise RuntimeError(f"usage above {self.limit}: this model was never tested there")
        return (data["support_calls"] > 2).to_numpy().astype(np.int64)

    def predict_proba(self, data: pd.DataFrame) -> npt.NDArray[np.float64]:
        p = self.predict(data).astype(np.float64) * 0.8 + 0.1
        return np.column_stack([1 - p, p])
