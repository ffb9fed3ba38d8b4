"""Following the registry: a background thread that swaps in new versions as references move.

It waits on the registry's change feed: on PostgreSQL a ``NOTIFY`` sent by the committing change
wakes it at once (and it still polls every ``SAFETY_POLL_S`` in case a notification was lost while
reconnecting); on SQLite it polls ``revision()`` (one indexed ``max(id)``) every ``interval``
seconds. When the revision moved, the data plane re-resolves the endpoints, and loads, warms and
swaps any new version. The first pass loads every endpoint (readiness turns green when all are
loaded and warmed).
"""

from __future__ import annotations

import gc
import logging
import threading

from shipyard.core.errors import ShipyardError
from shipyard.registry.changes import ChangeFeed
from shipyard.serving.dataplane import DataPlane

log = logging.getLogger("shipyard.serving")

DEFAULT_INTERVAL_S = 0.2
"""Between polls of the revision when the database cannot notify (SQLite)."""
SAFETY_POLL_S = 1.0
"""Between polls when it can: notifications lost while reconnecting are caught up by then."""


class RegistryFollower:
    def __init__(self, dataplane: DataPlane, *, interval: float = DEFAULT_INTERVAL_S) -> None:
        self.dataplane = dataplane
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._revision: int | None = None
        self._feed: ChangeFeed | None = None
        self.initial_load_done = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="shipyard-follower", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        feed = self._feed
        if feed is not None and not feed.notifies:
            feed.close()  # interrupts a polling wait; a listening one ends within SAFETY_POLL_S
        if self._thread is not None:
            self._thread.join(timeout)

    def poll_once(self) -> None:
        try:
            revision = self.dataplane.registry.revision()
        except ShipyardError as exc:
            log.warning("registry unreachable, keeping the served versions: %s", exc)
            return
        if revision != self._revision or not self.dataplane.ready:
            self._revision = revision
            self.dataplane.refresh()

    def _open_feed(self) -> ChangeFeed | None:
        try:
            return self.dataplane.registry.change_feed()
        except ShipyardError as exc:
            log.warning("cannot listen for registry changes, polling instead: %s", exc)
            return None

    def _wait(self) -> None:
        """Until the registry may have changed, or the next poll is due."""
        if self._feed is None:
            self._feed = self._open_feed()
        feed = self._feed
        if feed is None:
            self._stop.wait(self.interval)
            return
        try:
            feed.wait(SAFETY_POLL_S if feed.notifies else self.interval)
        except ShipyardError as exc:
            log.warning("registry change feed failed, reopening it: %s", exc)
            self._feed = None
            feed.close()
            self._stop.wait(self.interval)

    def _run(self) -> None:
        try:
            # listen and read first: a change made while loading is then seen by the next pass
            self._feed = self._open_feed()
            try:
                self._revision = self.dataplane.registry.revision()
            except ShipyardError:
                self._revision = None
            self.dataplane.load_all()
            # what is loaded now (modules, models) lives as long as the process: keep it out of
            # the collector's generations, so that full collections stay short (and pages shared)
            gc.freeze()
        finally:
            self.initial_load_done.set()
        try:
            while not self._stop.is_set():
                self._wait()
                if self._stop.is_set():
                    break
                try:
                    self.poll_once()
                except Exception:  # the follower must outlive any single failure
                    log.exception("registry follower pass failed")
        finally:
            if self._feed is not None:
                self._feed.close()
