"""The ``log`` notifier: alerts as warnings in the ``shipyard.alerts`` log."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from shipyard.monitoring.notifiers.base import Notification, Notifier

log = logging.getLogger("shipyard.alerts")


class LogNotifier:
    def notify(self, notification: Notification) -> None:
        level = logging.INFO if notification.event == "resolved" else logging.WARNING
        log.log(level, "%s", notification.text)


class LogKind:
    name = "log"

    def create(self, options: Mapping[str, Any]) -> Notifier:
        return LogNotifier()
