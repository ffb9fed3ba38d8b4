"""Helpers to build prediction events."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shipyard.telemetry import PredictionEvent

T0 = 1_718_000_000.0  # 2024-06-10 06:13:20 UTC


def tabular(
    request_id: str,
    *,
    ts: float = T0,
    endpoint: str = "churn",
    rows: int = 1,
    version: int = 1,
    route: str = "primary",
    latency_ms: float = 10.0,
) -> PredictionEvent:
    frame = pd.DataFrame(
        {
            "age": np.arange(rows, dtype=np.int64) + 30,
            "income": np.linspace(1.0, 2.0, rows),
            "plan": ["gold"] * rows,
            "active": [True] * rows,
        }
    )
    proba = np.tile([0.25, 0.75], (rows, 1))
    return PredictionEvent(
        request_id=request_id,
        ts=ts,
        endpoint=endpoint,
        model="churn-model",
        version=version,
        route=route,
        status="ok",
        latency_ms=latency_ms,
        inputs=frame,
        predictions=np.ones(rows, dtype=np.int64),
        probabilities=proba,
        classes=(0, 1),
    )


def failed(request_id: str, *, ts: float = T0, endpoint: str = "churn") -> PredictionEvent:
    return PredictionEvent(
        request_id=request_id,
        ts=ts,
        endpoint=endpoint,
        model="churn-model",
        version=1,
        route="primary",
        status="error",
        latency_ms=3.0,
        error="ModelFailure: boom",
    )
