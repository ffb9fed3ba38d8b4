"""Running monitors on their schedule (the controller calls ``run_due`` every tick)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from shipyard.core.errors import StaleLease
from shipyard.monitoring.monitor import MonitorConfig, MonitorService

log = logging.getLogger("shipyard.monitoring")


@dataclass
class Schedule:
    endpoint: str
    every: float
    """Seconds between runs."""
    config: MonitorConfig = field(default_factory=MonitorConfig)
    last_run: float | None = None


class MonitorScheduler:
    def __init__(self, service: MonitorService, schedules: list[Schedule] | None = None) -> None:
        self.service = service
        self.schedules = list(schedules or [])

    def add(self, schedule: Schedule) -> None:
        self.schedules.append(schedule)

    def due(self, now: float) -> list[Schedule]:
        return [s for s in self.schedules if s.last_run is None or now >= s.last_run + s.every]

    def run_due(self, now: float) -> int:
        ran = 0
        for schedule in self.due(now):
            schedule.last_run = now
            try:
                self.service.run(schedule.endpoint, config=schedule.config)
                ran += 1
            except StaleLease:  # this process no longer runs the monitors: stop here
                raise
            except Exception:  # a failing monitor must not stop the others
                log.exception("monitor of %s failed", schedule.endpoint)
        return ran
