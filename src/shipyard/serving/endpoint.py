"""An endpoint: a deployment name, the reference it falls back to, and its current route table."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from shipyard.serving.batching import AdaptiveBatcher, BatchingConfig
from shipyard.serving.router import RouteTable


@dataclass(frozen=True)
class EndpointSpec:
    name: str
    target: str | None = None
    """What to serve when no deployment of this name is stored (an implicit deployment);
    None for ``--deployment NAME`` endpoints, which need a stored deployment."""
    batching: BatchingConfig | None = None


@dataclass
class Endpoint:
    spec: EndpointSpec
    table: RouteTable | None = None
    """Swapped by reference assignment: requests holding the old one finish on it."""
    batcher: AdaptiveBatcher | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    failed_digests: set[str] = field(default_factory=set)
    swaps: int = 0

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def ready(self) -> bool:
        return self.table is not None

    def record_failure(self, message: str, digest: str | None) -> None:
        self.last_error = message
        self.last_error_at = time.time()
        if digest is not None:
            self.failed_digests.add(digest)

    def status(self) -> dict[str, Any]:
        table = self.table
        primary = table.primary if table else None
        return {
            "name": self.name,
            "ref": self.spec.target,
            "ready": table is not None,
            "version": primary.number if primary else None,
            "digest": primary.version.digest if primary else None,
            "load_seconds": round(primary.load_seconds, 4) if primary else None,
            "deployment": table.describe() if table else None,
            "swaps": self.swaps,
            "batching": None
            if self.spec.batching is None
            else {
                "max_batch_size": self.spec.batching.max_batch_size,
                "max_wait_ms": self.spec.batching.max_wait_ms,
            },
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }
