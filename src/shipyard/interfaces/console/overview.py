"""The overview: every endpoint, what serves it, its health, traffic and open problems.

Every number comes from stored metric points, alerts and rollout records (a few indexed queries per
endpoint); the prediction log is never read for a page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from shipyard.app import Services
from shipyard.core.errors import InvalidArgument, NotFound
from shipyard.registry.deployments import Deployment, DeploymentSpec, RolloutRecord
from shipyard.registry.entities import Alert, MetricPoint
from shipyard.registry.refs import parse_ref

SPARK_POINTS = 24
SPARK_METRICS = (("requests", "traffic"), ("latency.p95_ms", "p95 ms"), ("errors.rate", "errors"))
DRIFT_METRICS = ("drift.dataset", "drift.share")


@dataclass(frozen=True)
class Spark:
    label: str
    points: str
    """SVG polyline coordinates in a 100 × 24 box."""
    last: float | None


@dataclass
class EndpointRow:
    name: str
    routes: list[tuple[str, str, float]] = field(default_factory=list)
    """(target, resolved version ref, weight)."""
    shadows: list[str] = field(default_factory=list)
    health: str = "unknown"
    sparks: list[Spark] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    rollout: RolloutRecord | None = None
    drift: float | None = None
    drift_share: float | None = None


def sparkline(points: Sequence[MetricPoint], label: str) -> Spark:
    values = [p.value for p in points]
    if not values:
        return Spark(label, "", None)
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = 100 / max(1, len(values) - 1)
    coords = " ".join(
        f"{i * step:.1f},{22 - 20 * (v - low) / span:.1f}" for i, v in enumerate(values)
    )
    return Spark(label, coords, values[-1])


def served_ref(s: Services, target: str) -> str:
    """The exact version a route's target names now (``churn@champion`` -> ``churn/4``), with one
    cheap lookup for an alias and none for a pinned version."""
    try:
        ref = parse_ref(target)
        if ref.version is not None:
            return str(ref)
        if ref.alias is None or ref.alias == "latest":
            return s.registry.resolve(ref).ref
        return f"{ref.name}/{s.registry.get_alias(ref.name, ref.alias).version}"
    except (NotFound, InvalidArgument):
        return "not found"


def endpoint_row(
    s: Services,
    name: str,
    deployment: Deployment | None,
    alerts: Sequence[Alert],
    rollouts: Sequence[RolloutRecord],
    series: dict[tuple[str, str], list[MetricPoint]],
) -> EndpointRow:
    row = EndpointRow(name)
    spec = deployment.spec if deployment is not None else DeploymentSpec.single(f"{name}@champion")
    row.routes = [(r.target, served_ref(s, r.target), r.weight) for r in spec.routes]
    row.shadows = [sh.target for sh in spec.shadows]
    row.sparks = [
        sparkline(series.get((name, metric), []), label) for metric, label in SPARK_METRICS
    ]
    row.alerts = [a for a in alerts if a.endpoint == name]
    row.rollout = next((r for r in rollouts if r.deployment == name), None)
    drift = series.get((name, "drift.dataset"))
    row.drift = drift[-1].value if drift else None
    share = series.get((name, "drift.share"))
    row.drift_share = share[-1].value if share else None
    severities = {a.severity for a in row.alerts}
    errors = row.sparks[2].last
    if "critical" in severities:
        row.health = "critical"
    elif severities or (errors is not None and errors > 0.01):
        row.health = "degraded"
    elif row.sparks[0].last is not None:
        row.health = "ok"
    return row


def overview(request: Request, s: Services) -> dict[str, Any]:
    """Stored deployments, and endpoints with an open alert or an active rollout."""
    alerts = s.monitor_store.alerts(status="open", limit=1000)
    rollouts = s.rollouts.store.rollouts(active=True, limit=1000)
    stored = {d.name: d for d in s.deployments.all()}
    names = sorted(set(stored) | {a.endpoint for a in alerts} | {r.deployment for r in rollouts})
    series = s.monitor_store.series(names, [m for m, _ in SPARK_METRICS], last=SPARK_POINTS)
    series.update(s.monitor_store.series(names, DRIFT_METRICS, last=1))
    return {
        "endpoints": [endpoint_row(s, n, stored.get(n), alerts, rollouts, series) for n in names]
    }
