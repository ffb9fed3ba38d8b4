"""Following the registry: a background thread that swaps in new versions as references move.

Every ``interval`` seconds it reads the registry revision (one cheap query); when it changed, the data
plane re-resolves the endpoints that follow an alias, and loads, warms and swaps any new version. The
first pass loads every endpoint (readiness turns green when all are loaded and warmed).
"""

from __future__ import annotations

import logging
import threading

from shipyard.core.errors import ShipyardError
from shipyard.serving.dataplane import DataPlane

log = logging.getLogger("shipyard.serving")

DEFAULT_INTERVAL_S = 1.0


class RegistryFollower:
    def __init__(self, dataplane: DataPlane, *, interval: float = DEFAULT_INTERVAL_S) -> None:
        self.dataplane = dataplane
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._revision: int | None = None
        self.initial_load_done = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="shipyard-follower", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
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

    def _run(self) -> None:
        try:
            try:  # read first: a change made while loading is then seen by the next poll
                self._revision = self.dataplane.registry.revision()
            except ShipyardError:
                self._revision = None
            self.dataplane.load_all()
        finally:
            self.initial_load_done.set()
        while not self._stop.wait(self.interval):
            try:
                self.poll_once()
            except Exception:  # the follower must outlive any single failure
                log.exception("registry follower pass failed")
