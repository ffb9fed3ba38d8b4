"""The controller: one per registry (a lease row decides which), driving rollouts and monitors.

It runs inside ``shipyard serve`` by default or alone as ``shipyard controller``. Every tick the
holder renews its lease (others try to take it; it expires ``lease_ttl`` seconds after its holder
stops renewing), then advances each active rollout whose analysis is due — from the state stored in the
database, so a new controller resumes a rollout where the old one left it — runs due monitors, and
starts the prediction log's compaction and retention when due (on their own thread: ``run_due``
returns at once).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid

from shipyard.core.errors import ShipyardError
from shipyard.lifecycle.loop import ClosedLoop
from shipyard.lifecycle.service import RolloutService
from shipyard.monitoring.scheduler import MonitorScheduler
from shipyard.registry.sql.deployments import SqlDeploymentStore
from shipyard.telemetry.maintenance import LogMaintenance

log = logging.getLogger("shipyard.lifecycle")

LEASE = "controller"
DEFAULT_TICK_S = 0.5
DEFAULT_LEASE_TTL_S = 5.0


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Controller:
    def __init__(
        self,
        rollouts: RolloutService,
        store: SqlDeploymentStore,
        *,
        monitors: MonitorScheduler | None = None,
        loop: ClosedLoop | None = None,
        maintenance: LogMaintenance | None = None,
        tick: float = DEFAULT_TICK_S,
        lease_ttl: float = DEFAULT_LEASE_TTL_S,
        holder: str | None = None,
    ) -> None:
        self.rollouts = rollouts
        self.store = store
        self.monitors = monitors
        self.loop = loop
        self.maintenance = maintenance
        self.tick_seconds = tick
        self.lease_ttl = lease_ttl
        self.holder = holder or holder_name()
        self.leader = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self, now: float | None = None) -> bool:
        """One pass; returns whether this controller holds the lease."""
        now = time.time() if now is None else now
        try:
            leader = self.store.acquire_lease(LEASE, self.holder, self.lease_ttl)
        except ShipyardError as exc:
            log.warning("controller cannot reach the registry: %s", exc)
            return False
        if leader != self.leader:
            log.info("controller %s %s the lease", self.holder, "took" if leader else "lost")
            self.leader = leader
        if not leader:
            return False
        for record in self.store.rollouts(active=True):
            try:
                self.rollouts.tick(record, now)
            except Exception:  # one broken rollout must not stop the others
                log.exception("rollout %s of %s: tick failed", record.id, record.deployment)
        if self.monitors is not None:
            self.monitors.run_due(now)
        if self.maintenance is not None:
            self.maintenance.run_due(now)
        if self.loop is not None:
            try:
                self.loop.tick()
            except Exception:  # the policies must not stop rollouts
                log.exception("closed-loop tick failed")
        return True

    def start(self) -> Controller:
        self._thread = threading.Thread(target=self._run, name="shipyard-controller", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.tick()
            except Exception:
                log.exception("controller tick failed")
            self._stop.wait(max(0.0, self.tick_seconds - (time.monotonic() - started)))

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.loop is not None:
            self.loop.close()
        if self.maintenance is not None:
            self.maintenance.join(timeout)
        if self.leader:
            with contextlib.suppress(ShipyardError):
                self.store.release_lease(LEASE, self.holder)
            self.leader = False
