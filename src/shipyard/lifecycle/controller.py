"""The controller: one per registry (a fenced lease decides which), driving rollouts and monitors.

It runs in the ``shipyard serve`` supervisor process by default (one per server, whatever the number
of workers) or alone as ``shipyard controller``. Every tick it renews its lease (others try to take
it; it expires ``lease_ttl`` seconds after its holder last renewed), then, under the lease's fencing
token, advances each active rollout whose analysis is due — from the state stored in the database, so
a new controller resumes a rollout where the old one left it — runs due monitors and the closed loop,
and starts the prediction log's compaction and retention when due (on their own thread: ``run_due``
returns at once).

Fencing: every registry write of a tick (a rollout's state, an alias moved by a rollout, a metric
point, an alert, a policy's audit event) is checked in its own transaction against the lease's
current epoch. A controller that stalled past its lease — paused, swapped out, stuck — and wakes up
mid-tick has its writes refused (``StaleLease``, logged) and acts again only after re-taking the lease
(with a new epoch). Work that can hang (alert webhooks, retraining jobs) runs off this thread with
timeouts, so it never delays the renewal: a live controller keeps its lease, a stalled one loses it
within one TTL of its last renewal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid

from shipyard.core.errors import InvalidArgument, ShipyardError, StaleLease
from shipyard.lifecycle.loop import ClosedLoop
from shipyard.lifecycle.service import RolloutService
from shipyard.monitoring.scheduler import MonitorScheduler
from shipyard.registry.leases import Lease, LeaseStore, fenced
from shipyard.telemetry.maintenance import LogMaintenance

log = logging.getLogger("shipyard.lifecycle")

LEASE = "controller"
DEFAULT_TICK_S = 0.5
DEFAULT_LEASE_TTL_S = 15.0


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Controller:
    def __init__(
        self,
        rollouts: RolloutService,
        leases: LeaseStore,
        *,
        monitors: MonitorScheduler | None = None,
        loop: ClosedLoop | None = None,
        maintenance: LogMaintenance | None = None,
        tick: float = DEFAULT_TICK_S,
        lease_ttl: float = DEFAULT_LEASE_TTL_S,
        holder: str | None = None,
    ) -> None:
        if lease_ttl <= 2 * tick:
            raise InvalidArgument(
                f"the controller's lease TTL ({lease_ttl:g} s) must be more than two ticks "
                f"({tick:g} s each), or it would expire between renewals"
            )
        self.rollouts = rollouts
        self.leases = leases
        self.monitors = monitors
        self.loop = loop
        self.maintenance = maintenance
        self.tick_seconds = tick
        self.lease_ttl = lease_ttl
        self.holder = holder or holder_name()
        self.lease: Lease | None = None
        self.refused = 0
        """How many ticks ended on a refused write (a stale lease)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._heart: threading.Thread | None = None
        self._tick_started: float | None = None

    @property
    def leader(self) -> bool:
        return self.lease is not None

    def tick(self, now: float | None = None) -> bool:
        """One pass; returns whether this controller held the lease throughout."""
        now = time.time() if now is None else now
        try:
            lease = self.leases.acquire_lease(LEASE, self.holder, self.lease_ttl)
        except ShipyardError as exc:
            log.warning("controller cannot reach the registry: %s", exc)
            return False
        if (lease is None) != (self.lease is None) or (
            lease is not None and self.lease is not None and lease.epoch != self.lease.epoch
        ):
            if lease is None:
                log.info("controller %s lost the lease", self.holder)
            else:
                log.info("controller %s took the lease (epoch %d)", self.holder, lease.epoch)
        self.lease = lease
        if lease is None:
            return False
        try:
            with fenced(lease.fence):
                self._work(now)
        except StaleLease as exc:
            self.refused += 1
            log.warning("controller %s stops this tick: %s", self.holder, exc)
            self.lease = None
            return False
        return True

    def _work(self, now: float) -> None:
        for record in self.rollouts.store.rollouts(active=True):
            try:
                self.rollouts.tick(record, now)
            except StaleLease:
                raise
            except Exception:  # one broken rollout must not stop the others
                log.exception("rollout %s of %s: tick failed", record.id, record.deployment)
        if self.monitors is not None:
            self.monitors.run_due(now)
        if self.maintenance is not None:
            self.maintenance.run_due(now)
        if self.loop is not None:
            try:
                self.loop.tick()
            except StaleLease:
                raise
            except Exception:  # the policies must not stop rollouts
                log.exception("closed-loop tick failed")

    def start(self) -> Controller:
        self._thread = threading.Thread(target=self._run, name="shipyard-controller", daemon=True)
        self._thread.start()
        self._heart = threading.Thread(target=self._heartbeat, name="shipyard-lease", daemon=True)
        self._heart.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self._tick_started = started
            try:
                self.tick()
            except Exception:
                log.exception("controller tick failed")
            finally:
                self._tick_started = None
            self._stop.wait(max(0.0, self.tick_seconds - (time.monotonic() - started)))

    def _heartbeat(self) -> None:
        """Renew a held lease while a tick is slow (a long monitor run on a busy machine), so the
        work does not lose it. A tick stuck for longer than one TTL is not covered: it stops
        renewing, and the lease expires within two TTLs of the tick's start, as a stalled
        process's does. The renewal keeps the epoch, so the tick's fence stays valid."""
        while not self._stop.wait(self.lease_ttl / 4):
            started, held = self._tick_started, self.lease
            if held is None or started is None or time.monotonic() - started > self.lease_ttl:
                continue
            try:
                renewed = self.leases.acquire_lease(LEASE, self.holder, self.lease_ttl)
            except ShipyardError as exc:
                log.warning("controller cannot renew its lease: %s", exc)
                continue
            if renewed is None or renewed.epoch != held.epoch:
                log.info("controller %s lost the lease while working", self.holder)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._heart is not None:
            self._heart.join(timeout)
        if self.loop is not None:
            self.loop.close()
        if self.maintenance is not None:
            self.maintenance.join(timeout)
        if self.lease is not None:
            with contextlib.suppress(ShipyardError):
                self.leases.release_lease(LEASE, self.holder)
            self.lease = None
