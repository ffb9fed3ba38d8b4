"""The notifier interface and the hook that registers notifier kinds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from shipyard.core.errors import InvalidArgument
from shipyard.core.plugins import hookspec, plugin_manager
from shipyard.registry.entities import Alert


@dataclass(frozen=True)
class Notification:
    """What a notifier delivers: the alert and whether it was just opened or resolved."""

    alert: Alert
    event: str
    """``opened`` or ``resolved``."""

    @property
    def text(self) -> str:
        a = self.alert
        icon = "resolved" if self.event == "resolved" else a.severity.upper()
        return f"[{icon}] {a.endpoint}: {a.message}"

    def payload(self) -> dict[str, Any]:
        a = self.alert
        return {
            "text": self.text,  # Slack incoming-webhook compatible
            "event": self.event,
            "alert": {
                "id": a.id,
                "endpoint": a.endpoint,
                "monitor": a.monitor,
                "rule": a.rule,
                "severity": a.severity,
                "status": a.status,
                "message": a.message,
                "value": a.value,
                "threshold": a.threshold,
                "opened_at": a.opened_at.isoformat(),
                "resolved_at": a.resolved_at.isoformat() if a.resolved_at else None,
            },
        }


class Notifier(Protocol):
    def notify(self, notification: Notification) -> None:
        """Deliver one notification; raise on final failure (the caller logs and goes on)."""
        ...


class NotifierKind(Protocol):
    name: str

    def create(self, options: Mapping[str, Any]) -> Notifier: ...


class NotifierHooks:
    @hookspec
    def shipyard_notifiers(self) -> list[NotifierKind]:  # type: ignore[empty-body]
        """Return notifier kinds (``kind: webhook`` in configuration)."""


@cache
def installed_notifiers() -> dict[str, NotifierKind]:
    from shipyard.monitoring.notifiers import builtin

    pm = plugin_manager(NotifierHooks, [builtin])
    found: dict[str, NotifierKind] = {}
    for batch in reversed(pm.hook.shipyard_notifiers()):  # later plugins override built-ins
        for kind in batch:
            found[kind.name] = kind
    return found


def create_notifier(kind: str, options: Mapping[str, Any]) -> Notifier:
    kinds = installed_notifiers()
    if kind not in kinds:
        raise InvalidArgument(
            f"unknown notifier kind {kind!r}; installed: {', '.join(sorted(kinds))}"
        )
    return kinds[kind].create(options)
