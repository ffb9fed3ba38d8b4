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
from shipyard.registry.deployments import RolloutRecord
from shipyard.registry.entities import Alert, MetricPoint

SPARK_POINTS = 30
SPARK_METRICS = (("requests", "traffic"), ("latency.p95_ms", "p95 ms"), ("errors.rate", "errors"))


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


def endpoint_names(s: Services) -> list[str]:
    """Stored deployments, and endpoints with an open alert or an active rollout."""
    names = {d.name for d in s.deployments.all()}
    names |= {a.endpoint for a in s.monitor_store.alerts(status="open", limit=1000)}
    names |= {r.deployment for r in s.rollouts.store.rollouts(active=True, limit=1000)}
    return sorted(names)


def endpoint_row(
    s: Services, name: str, alerts: Sequence[Alert], rollouts: Sequence[RolloutRecord]
) -> EndpointRow:
    row = EndpointRow(name)
    try:
        deployment = s.deployments.resolve(name, f"{name}@champion")
    except (NotFound, InvalidArgument):
        deployment = None
    if deployment is not None:
        for route in deployment.spec.routes:
            try:
                resolved = s.registry.resolve(route.target).ref
            except (NotFound, InvalidArgument):
                resolved = "not found"
            row.routes.append((route.target, resolved, route.weight))
        row.shadows = [sh.target for sh in deployment.spec.shadows]
    store = s.monitor_store
    row.sparks = [
        sparkline(store.points(name, metric=metric, limit=SPARK_POINTS), label)
        for metric, label in SPARK_METRICS
    ]
    row.alerts = [a for a in alerts if a.endpoint == name]
    row.rollout = next((r for r in rollouts if r.deployment == name), None)
    latest = store.points(name, metric="drift.dataset", limit=1)
    row.drift = latest[-1].value if latest else None
    share = store.points(name, metric="drift.share", limit=1)
    row.drift_share = share[-1].value if share else None
    severities = {a.severity for a in row.alerts}
    errors = row.sparks[2].last
    if "critical" in severities:
        row.health = "critical"
    elif severities or (errors is not None and errors > 0.01):
        row.health = "degraded"
    elif row.sparks[0].last is not None or row.routes:
        row.health = "ok"
    return row


def overview(request: Request, s: Services) -> dict[str, Any]:
    alerts = s.monitor_store.alerts(status="open", limit=1000)
    rollouts = s.rollouts.store.rollouts(active=True, limit=1000)
    rows = [endpoint_row(s, name, alerts, rollouts) for name in endpoint_names(s)]
    return {"endpoints": rows, "models": len(s.registry.list_models())}
