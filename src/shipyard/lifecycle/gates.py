"""Rollout gates: pure checks of a candidate's window against the stable version's.

Each analysis ends **successful** (every gate passes), **failed** (a gate fails) or **inconclusive**
(the candidate answered fewer than ``min_requests`` requests: hold and look again). Defaults follow
Flagger's: success rate >= 99 % and p99 <= 500 ms; model gates add a relative latency limit, the
prediction-distribution shift of the candidate against the stable version on the same traffic, the
schema-violation rate, and — where labels have arrived — accuracy no worse than the stable version's
by more than ``max_accuracy_drop``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Verdict = Literal["successful", "failed", "inconclusive"]


@dataclass(frozen=True)
class GateConfig:
    min_requests: int = 20
    """Fewer candidate requests in a window: inconclusive (hold), never a pass."""
    min_success_rate: float = 0.99
    """Share of candidate requests answered without a model error (Flagger: 99 %)."""
    max_p99_ms: float = 500.0
    """Candidate p99 latency in milliseconds (Flagger: 500 ms)."""
    max_latency_ratio: float = 2.0
    """Candidate p99 at most this many times the stable version's (catches a 10x slower model
    even when both are far below ``max_p99_ms``); applies when the stable p99 is known..."""
    min_latency_increase_ms: float = 25.0
    """...and only once the candidate is also this much slower in absolute terms, so that noise at
    the millisecond scale (a busy machine, a cold cache) never fails a rollout."""
    max_schema_violation_rate: float = 0.05
    """Share of candidate requests refused by its signature."""
    max_prediction_psi: float = 0.25
    """PSI of the candidate's predictions against the stable version's on the same window
    (0.25 is the conventional 'significant shift' band)."""
    max_accuracy_drop: float = 0.02
    """With labels: candidate accuracy may trail the stable version's by at most this much — a
    larger drop fails only when a one-sided two-proportion test finds it significant (p < 0.05),
    so a few dozen labels cannot roll back a better model by chance."""
    min_labels: int = 30
    """Labelled candidate rows needed before the accuracy gate counts."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateConfig:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class VersionWindow:
    """What the log says about one version over the analysis window."""

    version: int
    requests: int = 0
    errors: int = 0
    invalid: int = 0
    p99_ms: float | None = None
    accuracy: float | None = None
    labelled: int = 0


@dataclass(frozen=True)
class GateValue:
    name: str
    value: float | None
    limit: float
    passed: bool


@dataclass(frozen=True)
class Analysis:
    verdict: Verdict
    gates: list[GateValue] = field(default_factory=list)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "reason": self.reason,
            "gates": [asdict(g) for g in self.gates],
        }


def analyze(
    candidate: VersionWindow,
    stable: VersionWindow | None,
    config: GateConfig,
    *,
    prediction_psi: float | None = None,
) -> Analysis:
    if candidate.requests < config.min_requests:
        return Analysis(
            "inconclusive",
            reason=f"candidate answered {candidate.requests} request(s), fewer than {config.min_requests}",
        )
    gates: list[GateValue] = []
    answered = candidate.requests - candidate.invalid
    success = 1.0 - candidate.errors / answered if answered else 1.0
    gates.append(
        GateValue(
            "success_rate", success, config.min_success_rate, success >= config.min_success_rate
        )
    )
    if candidate.p99_ms is not None:
        gates.append(
            GateValue(
                "p99_ms", candidate.p99_ms, config.max_p99_ms, candidate.p99_ms <= config.max_p99_ms
            )
        )
        if stable is not None and stable.p99_ms:
            ratio = candidate.p99_ms / stable.p99_ms
            slower = candidate.p99_ms - stable.p99_ms
            ok = ratio <= config.max_latency_ratio or slower < config.min_latency_increase_ms
            gates.append(GateValue("p99_ratio", ratio, config.max_latency_ratio, ok))
    violations = candidate.invalid / candidate.requests
    gates.append(
        GateValue(
            "schema_violation_rate",
            violations,
            config.max_schema_violation_rate,
            violations <= config.max_schema_violation_rate,
        )
    )
    if prediction_psi is not None:
        gates.append(
            GateValue(
                "prediction_psi",
                prediction_psi,
                config.max_prediction_psi,
                prediction_psi <= config.max_prediction_psi,
            )
        )
    if (
        stable is not None
        and candidate.accuracy is not None
        and stable.accuracy is not None
        and candidate.labelled >= config.min_labels
    ):
        drop = stable.accuracy - candidate.accuracy
        # a drop counts only when it is larger than the allowance and not explained by chance
        worse = drop > config.max_accuracy_drop and _significant_drop(candidate, stable)
        gates.append(GateValue("accuracy_drop", drop, config.max_accuracy_drop, not worse))
    failed = [g.name for g in gates if not g.passed]
    if failed:
        return Analysis("failed", gates, reason="failed gate(s): " + ", ".join(failed))
    return Analysis("successful", gates, reason="all gates passed")


def _significant_drop(candidate: VersionWindow, stable: VersionWindow) -> bool:
    """One-sided two-proportion z-test: is the candidate's accuracy lower than the stable one's?"""
    from math import erfc, sqrt

    assert candidate.accuracy is not None and stable.accuracy is not None
    n1, n2 = candidate.labelled, stable.labelled
    if n1 == 0 or n2 == 0:
        return False
    pooled = (candidate.accuracy * n1 + stable.accuracy * n2) / (n1 + n2)
    se = sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return stable.accuracy > candidate.accuracy
    z = (stable.accuracy - candidate.accuracy) / se
    return 0.5 * erfc(z / sqrt(2)) < 0.05
