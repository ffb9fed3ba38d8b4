"""Deployments: named, versioned traffic policies that servers follow.

A deployment routes each request to one of its ``routes`` (a model reference and a weight), mirrors a
share of requests to its ``shadows`` (answers logged, never returned), and with a ``sticky`` key sends
one user always to the same route while the weights stay the same (A/B tests). A model served by alias
without a stored deployment is an implicit deployment named after the model: one route, weight 100.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from shipyard.core.errors import InvalidArgument
from shipyard.registry.refs import ModelRef, check_name, parse_ref

StickyKind = Literal["header", "field"]


@dataclass(frozen=True)
class Route:
    target: str
    """A model reference: ``churn@champion`` or ``churn/4``."""
    weight: float

    @property
    def ref(self) -> ModelRef:
        return parse_ref(self.target)


@dataclass(frozen=True)
class Shadow:
    target: str
    percent: float = 100.0

    @property
    def ref(self) -> ModelRef:
        return parse_ref(self.target)


@dataclass(frozen=True)
class Sticky:
    kind: StickyKind
    """``header`` (an HTTP header) or ``field`` (an input column of the first row)."""
    name: str


@dataclass(frozen=True)
class DeploymentSpec:
    routes: tuple[Route, ...]
    shadows: tuple[Shadow, ...] = ()
    sticky: Sticky | None = None

    def __post_init__(self) -> None:
        if not self.routes:
            raise InvalidArgument("a deployment needs at least one route")
        total = 0.0
        for r in self.routes:
            r.ref  # noqa: B018 - validates the reference
            if r.weight < 0:
                raise InvalidArgument(f"route {r.target}: weight must be >= 0, got {r.weight}")
            total += r.weight
        if total <= 0:
            raise InvalidArgument("route weights must add up to more than 0")
        for s in self.shadows:
            s.ref  # noqa: B018
            if not 0 < s.percent <= 100:
                raise InvalidArgument(
                    f"shadow {s.target}: percent must be in (0, 100], got {s.percent}"
                )

    @classmethod
    def single(cls, target: str) -> DeploymentSpec:
        return cls(routes=(Route(target, 100.0),))

    def to_dict(self) -> dict[str, Any]:
        return {
            "routes": [{"target": r.target, "weight": r.weight} for r in self.routes],
            "shadows": [{"target": s.target, "percent": s.percent} for s in self.shadows],
            "sticky": None
            if self.sticky is None
            else {"kind": self.sticky.kind, "name": self.sticky.name},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeploymentSpec:
        try:
            sticky = data.get("sticky")
            if sticky is not None and sticky.get("kind") not in ("header", "field"):
                raise InvalidArgument(
                    f"sticky kind must be 'header' or 'field', got {sticky.get('kind')!r}"
                )
            return cls(
                routes=tuple(Route(str(r["target"]), float(r["weight"])) for r in data["routes"]),
                shadows=tuple(
                    Shadow(str(s["target"]), float(s.get("percent", 100.0)))
                    for s in data.get("shadows") or []
                ),
                sticky=None if sticky is None else Sticky(sticky["kind"], str(sticky["name"])),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidArgument(f"malformed deployment spec: {exc!r}") from exc

    def targets(self) -> list[str]:
        return [r.target for r in self.routes] + [s.target for s in self.shadows]


@dataclass(frozen=True)
class Deployment:
    name: str
    spec: DeploymentSpec
    revision: int
    updated_at: dt.datetime
    updated_by: str
    implicit: bool = False
    description: str = ""

    @classmethod
    def implicit_for(cls, name: str, target: str) -> Deployment:
        check_name(name)
        return cls(
            name=name,
            spec=DeploymentSpec.single(target),
            revision=0,
            updated_at=dt.datetime.fromtimestamp(0, dt.UTC),
            updated_by="",
            implicit=True,
        )


@dataclass(frozen=True)
class DeploymentEvent:
    name: str
    revision: int
    spec: DeploymentSpec
    actor: str
    at: dt.datetime
    reason: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


ACTIVE_ROLLOUT_STATUSES = ("pending_approval", "running", "paused", "promoting", "rolling_back")
"""A deployment has at most one rollout in these statuses (the database enforces it)."""


@dataclass(frozen=True)
class RolloutRecord:
    """A rollout as stored; its ``state`` is JSON owned by the lifecycle layer's state machine."""

    id: int
    deployment: str
    status: str
    state: Mapping[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    created_by: str


@dataclass(frozen=True)
class RolloutEvent:
    id: int
    rollout_id: int
    at: dt.datetime
    kind: str
    details: Mapping[str, Any]


class DeploymentStore(Protocol):
    """Deployments, their revisions, and rollouts (whose state changes with the routes, atomically)."""

    def find(self, name: str) -> Deployment | None: ...
    def all(self) -> list[Deployment]: ...
    def put(
        self,
        name: str,
        spec: DeploymentSpec,
        *,
        actor: str,
        reason: str = "",
        description: str | None = None,
        expected_revision: int | None = None,
    ) -> Deployment:
        """Write the next revision; with ``expected_revision``, only if it is still the current one
        (``Conflict`` with ``current_revision`` otherwise: exactly one of racing writers wins)."""
        ...

    def delete(self, name: str, *, actor: str) -> None: ...
    def history(self, name: str) -> list[DeploymentEvent]: ...
    def create_rollout(
        self,
        deployment: str,
        status: str,
        state: Mapping[str, Any],
        *,
        actor: str,
        spec: DeploymentSpec | None = None,
        event: Mapping[str, Any] | None = None,
    ) -> RolloutRecord:
        """Start a rollout; ``Conflict`` if the deployment already has an active one."""
        ...

    def update_rollout(
        self,
        rollout_id: int,
        status: str,
        state: Mapping[str, Any],
        *,
        actor: str,
        kind: str,
        details: Mapping[str, Any],
        spec: DeploymentSpec | None = None,
        expected_status: str | None = None,
    ) -> RolloutRecord: ...
    def get_rollout(self, rollout_id: int) -> RolloutRecord: ...
    def rollouts(
        self, *, deployment: str | None = None, active: bool = False, limit: int = 100
    ) -> list[RolloutRecord]: ...
    def events(self, rollout_id: int) -> list[RolloutEvent]: ...


def parse_routes(items: list[str]) -> tuple[Route, ...]:
    """``churn@champion=90 churn/4=10`` (weight after '='; a single route may omit it)."""
    routes = []
    for item in items:
        target, sep, weight = item.partition("=")
        try:
            routes.append(Route(target, float(weight) if sep else 100.0))
        except ValueError as exc:
            raise InvalidArgument(f"route {item!r}: expected REF=WEIGHT (e.g. churn/4=10)") from exc
    return tuple(routes)
