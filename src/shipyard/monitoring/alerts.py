"""Thresholds on monitoring metrics, and the alert lifecycle they drive.

A threshold names a metric and a warning and/or critical level in a direction (``above``/``below``).
Each monitor run evaluates every threshold (pure: ``evaluate``); the ``AlertManager`` then opens an
alert for a newly crossed threshold, refreshes (and deduplicates) one that stays crossed — escalating
its severity if it got worse — and resolves it when the metric comes back, notifying on open,
escalation and resolution only. Metrics absent from a run (no labels yet, say) leave alerts as they are.

Notifiers can hang (a webhook that never answers). In the controller, notifications are therefore
sent in the background (``deliver_in_background``): the alert is stored at once, and delivery, bounded
by each notifier's own timeouts, never holds up the loop that renews the controller's lease.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Literal

from shipyard.monitoring.notifiers.base import Notification, Notifier
from shipyard.registry.store import MonitorStore

log = logging.getLogger("shipyard.monitoring")

Direction = Literal["above", "below"]


@dataclass(frozen=True)
class Threshold:
    metric: str
    warning: float | None = None
    critical: float | None = None
    direction: Direction = "above"

    @property
    def rule(self) -> str:
        return f"{self.metric}:{self.direction}"

    def crossed(self, value: float, level: float) -> bool:
        return value >= level if self.direction == "above" else value <= level


@dataclass(frozen=True)
class Breach:
    threshold: Threshold
    severity: str
    value: float
    level: float

    @property
    def message(self) -> str:
        word = ">=" if self.threshold.direction == "above" else "<="
        return f"{self.threshold.metric} = {self.value:.4g} ({word} {self.severity} level {self.level:g})"


DEFAULT_THRESHOLDS: tuple[Threshold, ...] = (
    Threshold("drift.dataset", warning=1.0),
    Threshold("drift.share", critical=0.5),
    Threshold("prediction_drift.dataset", warning=1.0),
    Threshold("data.all_missing_columns", critical=1.0),
    Threshold("data.unexpected_columns", warning=1.0),
    Threshold("errors.rate", warning=0.01, critical=0.05),
    Threshold("latency.p99_ms", warning=500.0, critical=1000.0),
)
"""Defaults that need no configuration: any dataset drift (Holm-corrected, effect-size gated) warns;
half the columns drifting is critical; an entirely missing column is critical; error rate and p99
latency follow Flagger's canary defaults (success rate >= 99 %, p99 <= 500 ms)."""


def evaluate(
    thresholds: Sequence[Threshold], values: Mapping[str, float]
) -> tuple[list[Breach], list[Threshold]]:
    """Which thresholds are crossed (worst level first), and which are measured and clear."""
    breaches: list[Breach] = []
    clear: list[Threshold] = []
    for t in thresholds:
        if t.metric not in values:
            continue
        value = values[t.metric]
        if t.critical is not None and t.crossed(value, t.critical):
            breaches.append(Breach(t, "critical", value, t.critical))
        elif t.warning is not None and t.crossed(value, t.warning):
            breaches.append(Breach(t, "warning", value, t.warning))
        else:
            clear.append(t)
    return breaches, clear


class AlertManager:
    def __init__(self, store: MonitorStore, notifiers: Sequence[Notifier] = ()) -> None:
        self.store = store
        self.notifiers = list(notifiers)
        self._pool: ThreadPoolExecutor | None = None
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()

    def deliver_in_background(self, workers: int = 2) -> None:
        """From now on ``deliver`` returns at once; notifiers run on ``workers`` threads."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(workers, thread_name_prefix="shipyard-notify")

    def flush(self, timeout: float | None = None) -> bool:
        """Wait for background deliveries; False if some are still running after ``timeout``."""
        with self._lock:
            pending = set(self._pending)
        return not wait(pending, timeout=timeout).not_done

    def close(self, timeout: float | None = None) -> None:
        self.flush(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def apply(
        self,
        endpoint: str,
        thresholds: Sequence[Threshold],
        values: Mapping[str, float],
        *,
        monitor: str = "default",
    ) -> list[Notification]:
        breaches, clear = evaluate(thresholds, values)
        sent: list[Notification] = []
        for b in breaches:
            before = {a.rule: a for a in self.store.alerts(endpoint=endpoint, status="open")}
            alert, opened = self.store.raise_alert(
                endpoint=endpoint,
                monitor=monitor,
                rule=b.threshold.rule,
                severity=b.severity,
                message=b.message,
                value=b.value,
                threshold=b.level,
            )
            escalated = (
                not opened
                and before.get(alert.rule) is not None
                and before[alert.rule].severity == "warning"
                and b.severity == "critical"
            )
            if opened or escalated:
                sent.append(Notification(alert, "opened"))
        for t in clear:
            resolved = self.store.resolve_alert(endpoint=endpoint, rule=t.rule)
            if resolved is not None:
                sent.append(Notification(resolved, "resolved"))
        for note in sent:
            self.deliver(note)
        return sent

    def deliver(self, note: Notification) -> None:
        if self._pool is None:
            self._send(note)
            return
        future = self._pool.submit(self._send, note)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def _send(self, note: Notification) -> None:
        for notifier in self.notifiers:
            try:
                notifier.notify(note)
            except Exception as exc:  # a broken notifier must not stop monitoring
                log.error(
                    "notifier %s failed for alert %s: %s",
                    type(notifier).__name__,
                    note.alert.id,
                    exc,
                )
