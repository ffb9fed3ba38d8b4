"""The asynchronous prediction-log writer: ``submit`` never waits, a thread writes segments.

Guarantees:

* ``submit(event)`` only appends the event to an in-memory list under a lock: no Arrow conversion,
  no I/O, no blocking. When the queued rows (pending plus the batch being written) would exceed
  ``max_queue_rows`` the event is dropped and counted (``dropped_rows``, ``on_drop(rows)``, a
  warning on the ``shipyard.telemetry`` logger at most once every 10 s): the serving path never slows
  down because the disk did. Submitting to a closed writer drops too.
* A daemon thread flushes every ``flush_interval`` seconds, and once more on ``close()``, which
  returns when everything submitted before it is written (or counted as lost). ``flush()`` does the
  same synchronously on the caller's thread.
* A flush groups events by (endpoint, UTC day of ``ts``) and publishes one Parquet segment per group
  at ``{root}/predictions/endpoint={endpoint}/date={YYYY-MM-DD}/part-{time_ns}-{pid}-{seq}.parquet``
  (see ``_storage``): written under a ``.tmp-`` name, fsynced and renamed locally; written straight
  to its final key on object stores. A killed process loses at most the events of the current
  interval and never leaves a torn ``part-`` file.
* A failed write (disk full, permissions, a malformed event) is logged and its rows are counted in
  ``failed_rows`` with the message in ``last_flush_error``; the thread keeps going.

Compression is Snappy: it is among the cheapest codecs to encode (the writer runs on the server's
CPU, sharing the GIL with request handling), and every Parquet reader supports it. Zstd gives
smaller files for a little more CPU; compact old partitions with it if storage matters.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Any

import pyarrow as pa

from shipyard.telemetry._storage import PREDICTIONS, SegmentStore, date_dir, endpoint_dir
from shipyard.telemetry.records import PredictionEvent, events_to_table

log = logging.getLogger("shipyard.telemetry")

COMPRESSION = "snappy"
_WARN_EVERY = 10.0


def _utc_day(ts: float) -> date:
    return datetime.fromtimestamp(ts, UTC).date()


class SegmentWriter:
    """Buffers prediction events and writes them as Parquet segments from a background thread."""

    def __init__(
        self,
        root: str,
        *,
        flush_interval: float = 1.0,
        max_queue_rows: int = 200_000,
        on_drop: Callable[[int], None] | None = None,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        if flush_interval <= 0:
            raise ValueError("flush_interval must be positive")
        if max_queue_rows <= 0:
            raise ValueError("max_queue_rows must be positive")
        self.store = SegmentStore(root, storage_options)
        self.flush_interval = flush_interval
        self.max_queue_rows = max_queue_rows
        self.on_drop = on_drop
        self._lock = threading.Lock()  # guards the queue and the counters
        self._flush_lock = threading.Lock()  # one flush at a time
        self._pending: list[PredictionEvent] = []
        self._pending_rows = 0
        self._inflight_rows = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._last_warning = float("-inf")
        self.written_rows = 0
        self.written_segments = 0
        self.dropped_rows = 0
        self.failed_rows = 0
        self.last_flush_error: str | None = None
        self.last_flush_at: float | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> SegmentWriter:
        """Start the flushing thread (idempotent)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this SegmentWriter is closed")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="shipyard-telemetry-writer", daemon=True
                )
                self._thread.start()
        return self

    def close(self, timeout: float | None = None) -> None:
        """Stop accepting events, write everything queued, and join the thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._stop.set()
        if thread is not None:
            thread.join(timeout)
        else:
            self.flush()

    def __enter__(self) -> SegmentWriter:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the caller's side ----------------------------------------------------------------------

    def submit(self, event: PredictionEvent) -> bool:
        """Queue an event for writing; False (and counted) when it was dropped. Never blocks."""
        rows = event.rows
        with self._lock:
            accepted = (
                not self._closed
                and self._pending_rows + self._inflight_rows + rows <= self.max_queue_rows
            )
            if accepted:
                self._pending.append(event)
                self._pending_rows += rows
                return True
            self.dropped_rows += rows
            now = time.monotonic()
            warn = now - self._last_warning >= _WARN_EVERY
            if warn:
                self._last_warning = now
            dropped_total = self.dropped_rows
        if warn:
            log.warning(
                "prediction log: %s; dropping events (%d rows dropped so far)",
                "writer closed" if self._closed else f"queue full ({self.max_queue_rows} rows)",
                dropped_total,
            )
        if self.on_drop is not None:
            try:
                self.on_drop(rows)
            except Exception:  # a broken callback must not break the serving path
                log.exception("prediction log: on_drop callback failed")
        return False

    # -- the writer's side ----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            stopping = self._stop.wait(self.flush_interval)
            try:
                self.flush()
            except Exception:  # pragma: no cover - flush already catches per segment
                log.exception("prediction log: flush failed")
            if stopping:
                return

    def flush(self) -> int:
        """Write every queued event now; returns the rows written. Safe from any thread."""
        with self._flush_lock:
            with self._lock:
                events, self._pending = self._pending, []
                self._inflight_rows, self._pending_rows = self._pending_rows, 0
            try:
                return self._write(events)
            finally:
                with self._lock:
                    self._inflight_rows = 0
                self.last_flush_at = time.time()

    def _write(self, events: list[PredictionEvent]) -> int:
        groups: dict[tuple[str, date], list[PredictionEvent]] = {}
        for event in events:
            groups.setdefault((event.endpoint, _utc_day(event.ts)), []).append(event)
        written = 0
        for (endpoint, day), group in groups.items():
            rows = sum(e.rows for e in group)
            try:
                table = self._table(group)
                if table.num_rows:
                    self.store.publish(
                        (PREDICTIONS, endpoint_dir(endpoint), date_dir(day)),
                        table,
                        compression=COMPRESSION,
                    )
            except Exception as exc:
                message = f"{type(exc).__name__}: {exc}"
                log.error(
                    "prediction log: cannot write %d rows of endpoint %r (%s); they are lost",
                    rows,
                    endpoint,
                    message,
                )
                with self._lock:
                    self.failed_rows += rows
                    self.last_flush_error = message
                continue
            with self._lock:
                self.written_rows += table.num_rows
                self.written_segments += 1 if table.num_rows else 0
                self.failed_rows += rows - table.num_rows
            written += table.num_rows
        return written

    def _table(self, group: list[PredictionEvent]) -> pa.Table:
        """Convert a group; when that fails, convert event by event and skip the bad ones."""
        try:
            return events_to_table(group)
        except Exception as exc:
            good = []
            for event in group:
                try:
                    events_to_table([event])
                except Exception as bad:
                    log.error(
                        "prediction log: cannot convert request %s: %s: %s",
                        event.request_id,
                        type(bad).__name__,
                        bad,
                    )
                    with self._lock:
                        self.last_flush_error = f"{type(bad).__name__}: {bad}"
                else:
                    good.append(event)
            if len(good) == len(group):
                raise exc
            return events_to_table(good)

    # -- observability --------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters for /metrics and health checks."""
        with self._lock:
            return {
                "running": self.running,
                "closed": self._closed,
                "queued_rows": self._pending_rows + self._inflight_rows,
                "max_queue_rows": self.max_queue_rows,
                "written_rows": self.written_rows,
                "written_segments": self.written_segments,
                "dropped_rows": self.dropped_rows,
                "failed_rows": self.failed_rows,
                "last_flush_error": self.last_flush_error,
                "last_flush_at": self.last_flush_at,
            }


__all__ = ["COMPRESSION", "SegmentWriter"]
