"""Routing a request to one of a deployment's loaded routes, and choosing its shadows.

Weights are honoured by a uniform draw over the cumulative weights. With a sticky key the draw is
replaced by a hash of the key, so one user always meets the same route while the weights are
unchanged (A/B tests). Routes of weight 0 are loaded and warm but receive no traffic (blue/green
standby, instant rollback).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

from shipyard.registry.deployments import Sticky
from shipyard.serving.runtime import LoadedVersion


@dataclass(frozen=True)
class LoadedRoute:
    target: str
    loaded: LoadedVersion
    weight: float


@dataclass(frozen=True)
class LoadedShadow:
    target: str
    loaded: LoadedVersion
    percent: float


def unit_hash(value: str) -> float:
    """A stable number in [0, 1) for a sticky key."""
    digest = hashlib.blake2b(value.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class RouteTable:
    routes: tuple[LoadedRoute, ...]
    shadows: tuple[LoadedShadow, ...] = ()
    sticky: Sticky | None = None
    revision: int = 0
    """The deployment revision this table was built from (0: implicit deployment)."""
    key: tuple[Any, ...] = ()
    """What the table was built from (revision, targets, digests): equal keys need no reload."""

    @property
    def primary(self) -> LoadedVersion:
        """The route with the most weight: its signature decodes requests."""
        return max(self.routes, key=lambda r: r.weight).loaded

    def pick(self, sticky_value: str | None = None) -> LoadedVersion:
        live = [r for r in self.routes if r.weight > 0]
        if len(live) == 1:
            return live[0].loaded
        total = sum(r.weight for r in live)
        draw = (unit_hash(sticky_value) if sticky_value is not None else random.random()) * total
        for route in live:
            draw -= route.weight
            if draw < 0:
                return route.loaded
        return live[-1].loaded

    def shadows_for(self, answered: LoadedVersion) -> list[LoadedVersion]:
        return [
            s.loaded
            for s in self.shadows
            if s.loaded is not answered and (s.percent >= 100 or random.random() * 100 < s.percent)
        ]

    def version(self, number: int) -> LoadedVersion | None:
        for r in self.routes:
            if r.loaded.number == number:
                return r.loaded
        for s in self.shadows:
            if s.loaded.number == number:
                return s.loaded
        return None

    def loaded_versions(self) -> list[LoadedVersion]:
        return [r.loaded for r in self.routes] + [s.loaded for s in self.shadows]

    def describe(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "routes": [
                {"target": r.target, "version": r.loaded.number, "weight": r.weight}
                for r in self.routes
            ],
            "shadows": [
                {"target": s.target, "version": s.loaded.number, "percent": s.percent}
                for s in self.shadows
            ],
            "sticky": None
            if self.sticky is None
            else {"kind": self.sticky.kind, "name": self.sticky.name},
        }
