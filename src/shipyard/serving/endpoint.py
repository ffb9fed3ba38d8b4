"""An endpoint: a name, the reference it follows, and the version it serves right now."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from shipyard.registry.refs import ModelRef
from shipyard.serving.batching import AdaptiveBatcher, BatchingConfig
from shipyard.serving.runtime import LoadedVersion


@dataclass(frozen=True)
class EndpointSpec:
    name: str
    ref: ModelRef
    batching: BatchingConfig | None = None

    @property
    def follows(self) -> bool:
        """Whether the served version can change (an alias or @latest, not a fixed version)."""
        return self.ref.alias is not None


class Endpoint:
    def __init__(self, spec: EndpointSpec) -> None:
        self.spec = spec
        self.current: LoadedVersion | None = None
        """Swapped by reference assignment: requests holding the old one finish on it."""
        self.batcher: AdaptiveBatcher | None = None
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.failed_digest: str | None = None
        self.swaps = 0

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def ready(self) -> bool:
        return self.current is not None

    def record_failure(self, message: str, digest: str | None) -> None:
        self.last_error = message
        self.last_error_at = time.time()
        self.failed_digest = digest

    def status(self) -> dict[str, Any]:
        current = self.current
        return {
            "name": self.name,
            "ref": str(self.spec.ref),
            "ready": current is not None,
            "version": current.number if current else None,
            "digest": current.version.digest if current else None,
            "load_seconds": round(current.load_seconds, 4) if current else None,
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
