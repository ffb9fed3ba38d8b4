"""``LogMaintenance``: compaction and retention of the log, as the controller runs them.

``compact()`` and ``apply_retention()`` do the work synchronously (tests, the CLI, benchmarks);
``run_due(now)`` is what the controller calls each tick: it returns at once and, when a pass is due,
runs it on a background thread, one pass at a time, so a long compaction never delays rollouts or
the renewal of the controller's lease. A local log root is also guarded by an OS file lock, so two
processes never compact the same log at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shipyard.telemetry.compaction import CompactionReport, Compactor
from shipyard.telemetry.retention import DEFAULT_RETENTION, RetentionReport, apply_retention

log = logging.getLogger("shipyard.telemetry")

LOCK_FILE = ".maintenance.lock"
DEFAULT_COMPACT_EVERY_S = 60.0
DEFAULT_RETENTION_EVERY_S = 3600.0


class LogMaintenance:
    def __init__(
        self,
        root: str,
        *,
        retention: timedelta = DEFAULT_RETENTION,
        per_endpoint: Mapping[str, timedelta] | None = None,
        storage_options: dict[str, Any] | None = None,
        compact_every: float = DEFAULT_COMPACT_EVERY_S,
        retention_every: float = DEFAULT_RETENTION_EVERY_S,
        compactor: Compactor | None = None,
    ) -> None:
        self.compactor = compactor or Compactor(root, storage_options=storage_options)
        self.store = self.compactor.store
        self.retention = retention
        self.per_endpoint = dict(per_endpoint or {})
        self.compact_every = compact_every
        self.retention_every = retention_every
        self._next_compaction = 0.0
        self._next_retention = 0.0
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[bool]:
        """True when this process may maintain the log now (always, for object stores)."""
        if not self.store.local:
            yield True
            return
        import fcntl

        Path(self.store.root).mkdir(parents=True, exist_ok=True)
        fd = os.open(os.path.join(self.store.root, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # closing releases the lock

    def compact(self, now: float | None = None) -> CompactionReport:
        """Compact every closed hour and day now (nothing when another process is at it)."""
        with self._exclusive() as mine:
            return self.compactor.compact(now) if mine else CompactionReport()

    def apply_retention(self, now: datetime | None = None) -> RetentionReport:
        """Delete the days older than their endpoint's retention now."""
        with self._exclusive() as mine:
            if not mine:
                return RetentionReport()
            return apply_retention(
                self.store,
                self.compactor.index,
                self.compactor.label_index,
                now=now or datetime.now(UTC),
                default=self.retention,
                per_endpoint=self.per_endpoint,
            )

    def run_due(self, now: float) -> bool:
        """Start the due passes on a background thread; False when one is still running."""
        if self._thread is not None and self._thread.is_alive():
            return False
        compaction = now >= self._next_compaction
        retention = now >= self._next_retention
        if not (compaction or retention):
            return True
        if compaction:
            self._next_compaction = now + self.compact_every
        if retention:
            self._next_retention = now + self.retention_every
        self._thread = threading.Thread(
            target=self._pass,
            args=(now, compaction, retention),
            name="shipyard-log-maintenance",
            daemon=True,
        )
        self._thread.start()
        return True

    def _pass(self, now: float, compaction: bool, retention: bool) -> None:
        try:
            if retention:
                self.apply_retention(datetime.fromtimestamp(now, UTC))
            if compaction:
                self.compact(now)
        except Exception:  # the next pass retries; readers are never affected
            log.exception("prediction log maintenance failed")

    def join(self, timeout: float | None = None) -> None:
        """Wait for a background pass (tests, shutdown)."""
        if self._thread is not None:
            self._thread.join(timeout)


__all__ = ["LogMaintenance"]
