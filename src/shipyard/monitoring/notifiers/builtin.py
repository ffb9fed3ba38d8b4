"""Built-in notifier kinds, registered through the same hook as plugins."""

from __future__ import annotations

from shipyard.core.plugins import hookimpl
from shipyard.monitoring.notifiers.base import NotifierKind
from shipyard.monitoring.notifiers.log import LogKind
from shipyard.monitoring.notifiers.webhook import WebhookKind


@hookimpl
def shipyard_notifiers() -> list[NotifierKind]:
    return [LogKind(), WebhookKind()]
