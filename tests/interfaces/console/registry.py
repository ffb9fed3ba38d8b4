"""A demo-like registry for the console's tests: one endpoint with its whole life so far.

``churn`` v1 served first, v2 promoted by a canary (its gates recorded), v3 now in a canary rollout
(running, step 1 of 2); ``fraud`` v2 waits for approval for its protected ``champion``; twelve
monitor windows of metric points with drift in the last four, alerts, and the audit trail of a
policy that fired, retrained and evaluated. Text from users carries markup, which must come out
escaped. Tokens: one per role, plus ``root`` (admin).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shipyard.app import Services, build
from shipyard.core.config import Settings
from shipyard.registry.access import Role
from shipyard.registry.deployments import DeploymentSpec
from shipyard.registry.entities import MetricPoint
from shipyard.testing import ThresholdModel

ENDPOINT = "churn"
MARKUP = "<script>alert('x')</script><b>bold</b>"
"""User text that a page must show as text: a description, a tag value, a reason."""
FEATURES = ("usage", "tenure")
WINDOWS = 12
REVIEWED = "fraud"
"""A model whose ``champion`` is protected: its version 2 waits for approval."""


@dataclass
class ConsoleRegistry:
    services: Services
    home: Path
    tokens: dict[str, str]


def frame(seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"usage": rng.normal(shift, 1, 200), "tenure": rng.uniform(0, 10, 200)})


def _amounts() -> pd.DataFrame:
    return pd.DataFrame({"amount": np.linspace(0, 1, 50)})


def build_registry(home: Path) -> ConsoleRegistry:
    services = build(Settings(home=home), actor="alice")
    reg = services.registry
    for i, threshold in enumerate((0.5, 0.2, 0.1), start=1):
        reg.log_model(
            ThresholdModel("usage", threshold),
            name=ENDPOINT,
            X_sample=frame(i),
            metrics={"accuracy": 0.70 + 0.08 * i, "roc_auc": 0.75 + 0.05 * i},
            description=f"version {i} {MARKUP}",
            tags={"team": MARKUP} if i == 1 else None,
        )
    reg.describe(ENDPOINT, f"Will a customer leave? {MARKUP}")
    reg.set_alias(ENDPOINT, "champion", 1, reason="first model")
    reg.set_alias(ENDPOINT, "staging", 1, reason="first try")
    reg.set_alias(ENDPOINT, "staging", 2, reason=f"second try {MARKUP}")
    for threshold in (0.3, 0.4):  # a second model, whose champion only approved versions become
        reg.log_model(ThresholdModel("amount", threshold), name=REVIEWED, X_sample=_amounts())
    reg.set_alias(REVIEWED, "champion", 1, reason="first model")
    services.governance.protect(REVIEWED, "champion", required_approvals=1)
    services.deployments.create(ENDPOINT, DeploymentSpec.single(f"{ENDPOINT}@champion"))
    _history(services)
    services.rollouts.start(
        ENDPOINT, to_version=3, steps=(50.0, 100.0), interval=3600.0, actor="alice"
    )
    tokens = {
        r.value: services.tokens.create(f"{r.value}-1", [r.value], actor="root").secret
        for r in Role
    }
    tokens["root"] = services.tokens.create("root", ["admin"], actor="root").secret
    return ConsoleRegistry(services, home, tokens)


def _history(services: Services) -> None:
    """Monitor windows (drift in the last four), alerts, the policy, retraining, evaluation and a
    promoted canary of v2, as the controller would have recorded them."""
    reg = services.registry
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    points = []
    for w in range(WINDOWS):
        end = now - dt.timedelta(hours=WINDOWS - w)
        start = end - dt.timedelta(hours=1)
        drifted = w >= WINDOWS - 4
        values = {
            "rows": 500.0 + w,
            "requests": 500.0 + 10 * w,
            "latency.p50_ms": 4.0 + w % 3,
            "latency.p95_ms": 9.0 + w % 4,
            "latency.p99_ms": 15.0 + w % 5,
            "errors.rate": 0.001 * (w % 3),
            "drift.dataset": 1.0 if drifted else 0.0,
            "drift.share": 0.5 if drifted else 0.0,
            "labels.coverage": min(1.0, 0.1 * w),
            "performance.accuracy": 0.86 - (0.1 if drifted else 0.0),
            "estimated.accuracy": 0.85 - (0.08 if drifted else 0.0),
        }
        for f in FEATURES:
            shifted = drifted and f == "usage"
            values[f"feature.{f}.drift"] = 1.0 if shifted else 0.0
            values[f"feature.{f}.psi"] = 0.35 if shifted else 0.02 + 0.01 * (w % 3)
            values[f"feature.{f}.missing_share"] = 0.0
        points += [MetricPoint(ENDPOINT, m, v, start, end, version=1) for m, v in values.items()]
    services.monitor_store.add_points(points)
    services.monitor_store.raise_alert(
        endpoint=ENDPOINT,
        monitor="default",
        rule="drift.dataset:above",
        severity="warning",
        message=f"dataset drift {MARKUP}",
        value=1.0,
        threshold=1.0,
    )
    reg.record(
        "policy.fire",
        ENDPOINT,
        {
            "policy": "retrain-on-drift",
            "why": {"trigger": "drift", "windows": 4},
            "actions": ["alert", "retrain", "evaluate", "rollout"],
        },
        actor="controller",
    )
    reg.record(
        "retrain.done",
        ENDPOINT,
        {
            "version": f"{ENDPOINT}/2",
            "parent": f"{ENDPOINT}/1",
            "training_rows": 900,
            "window": ["2026-01-01T00:00:00", "2026-01-01T04:00:00"],
            "log_tail": "epoch 1 loss 0.41\nepoch 2 loss 0.33\nsaved package",
        },
        actor="controller",
    )
    reg.record(
        "evaluation",
        f"{ENDPOINT}/2",
        {
            "verdict": "challenger",
            "metric": "accuracy",
            "rows": 400,
            "improvement": 0.12,
            "improvement_low": 0.08,
            "improvement_high": 0.16,
            "reasons": [],
            "champion": {
                "ref": f"{ENDPOINT}/1",
                "metrics": {"accuracy": 0.74},
                "low": 0.7,
                "high": 0.78,
            },
            "challenger": {
                "ref": f"{ENDPOINT}/2",
                "metrics": {"accuracy": 0.86},
                "low": 0.83,
                "high": 0.89,
            },
        },
        actor="controller",
    )
    record = services.rollouts.start(
        ENDPOINT, to_version=2, steps=(50.0, 100.0), interval=3600.0, actor="controller"
    )
    services.rollouts.promote(ENDPOINT, actor="controller")
    services.rollouts.tick(services.rollouts.store.get_rollout(record.id), actor="controller")
