"""Store protocols: the metadata operations every backend implements.

``RegistryStore`` (models, versions, tags, aliases, audit), ``MonitorStore`` (metric points and
alerts) and ``GovernanceStore`` (protected aliases and approvals) live here; ``DeploymentStore`` and
``LeaseStore`` live with their concepts (``registry.deployments``, ``registry.leases``). Each has one
contract suite in ``tests/registry`` that every implementation passes on SQLite and PostgreSQL.

Stores return frozen entities (``registry.entities``), never rows. Every mutation writes its audit
event in the same transaction as the change itself, so the log can never miss or invent a change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from shipyard.registry.changes import ChangeFeed
from shipyard.registry.entities import (
    Alert,
    Alias,
    AliasEvent,
    ApprovalStatus,
    AuditEvent,
    ChainReport,
    MetricPoint,
    ModelVersion,
    NewVersion,
    ProtectedAlias,
    RegisteredModel,
)


class RegistryStore(Protocol):
    # models
    def get_model(self, name: str) -> RegisteredModel: ...
    def list_models(
        self, *, prefix: str | None = None, tags: Mapping[str, str] | None = None, limit: int = 1000
    ) -> list[RegisteredModel]: ...
    def set_model_description(self, name: str, description: str, *, actor: str) -> None: ...
    def delete_model(self, name: str, *, actor: str) -> None: ...

    # versions
    def create_version(self, name: str, new: NewVersion, *, actor: str) -> ModelVersion:
        """Create the model if needed and allocate the next version number atomically."""
        ...

    def get_version(self, name: str, version: int) -> ModelVersion: ...
    def latest_version(self, name: str) -> ModelVersion: ...
    def list_versions(
        self,
        *,
        name: str | None = None,
        prefix: str | None = None,
        tags: Mapping[str, str] | None = None,
        limit: int = 1000,
    ) -> list[ModelVersion]: ...
    def set_version_description(
        self, name: str, version: int, description: str, *, actor: str
    ) -> None: ...
    def delete_version(self, name: str, version: int, *, actor: str) -> None: ...

    # tags (version=None: on the model)
    def set_tag(
        self, name: str, version: int | None, key: str, value: str, *, actor: str
    ) -> None: ...
    def delete_tag(self, name: str, version: int | None, key: str, *, actor: str) -> None: ...

    # aliases
    def set_alias(
        self, name: str, alias: str, version: int, *, actor: str, reason: str = ""
    ) -> AliasEvent: ...
    def delete_alias(
        self, name: str, alias: str, *, actor: str, reason: str = ""
    ) -> AliasEvent: ...
    def get_alias(self, name: str, alias: str) -> Alias: ...
    def list_aliases(self, name: str) -> list[Alias]: ...
    def alias_history(self, name: str, alias: str) -> list[AliasEvent]: ...
    def alias_at(self, name: str, alias: str, at: dt.datetime) -> int | None:
        """The version ``name@alias`` pointed to at time ``at`` (None if it pointed nowhere)."""
        ...

    # audit
    def list_audit(
        self,
        *,
        since: dt.datetime | None = None,
        action: str | None = None,
        target: str | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]: ...

    def verify_audit(self, *, tail: int | None = None) -> ChainReport:
        """Check the audit chain: every link (or the last ``tail``) and the head."""
        ...

    def add_audit(
        self, actor: str, action: str, target: str, details: Mapping[str, Any]
    ) -> None: ...

    def revision(self) -> int:
        """A number that grows with every change: cheap to poll for 'did anything change'."""
        ...

    def change_feed(self) -> ChangeFeed:
        """Blocks a follower until the registry may have changed (or lets it poll)."""
        ...

    def close(self) -> None: ...


class MonitorStore(Protocol):
    def add_points(self, points: Sequence[MetricPoint]) -> None: ...
    def points(
        self,
        endpoint: str,
        *,
        metric: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 10_000,
    ) -> list[MetricPoint]:
        """Points of ``endpoint`` (``metric`` is a name or a prefix ending in '.'), oldest first."""
        ...

    def series(
        self, endpoints: Sequence[str], metrics: Sequence[str], *, last: int = 30
    ) -> dict[tuple[str, str], list[MetricPoint]]:
        """The newest ``last`` points of each (endpoint, metric) pair, oldest first."""
        ...

    def latest_run_points(self, *, marker: str = "rows") -> list[MetricPoint]:
        """Per endpoint and monitor, every point of its latest run (those sharing the newest
        ``marker`` point's ``window_end``)."""
        ...

    def raise_alert(
        self,
        *,
        endpoint: str,
        monitor: str,
        rule: str,
        severity: str,
        message: str,
        value: float | None,
        threshold: float | None,
    ) -> tuple[Alert, bool]:
        """Open an alert for ``rule``, or refresh the one already open. True when newly opened."""
        ...

    def resolve_alert(self, *, endpoint: str, rule: str) -> Alert | None: ...
    def alerts(
        self, *, endpoint: str | None = None, status: str | None = None, limit: int = 200
    ) -> list[Alert]: ...


Judge = Callable[[ApprovalStatus, str], str]
"""``(current status, version creator) -> next status``; raises ``Conflict`` to refuse."""
Settle = Callable[[ApprovalStatus], str]
"""``current status -> status`` once the required number of approvals has changed."""


class GovernanceStore(Protocol):
    def get_protection(self, name: str, alias: str) -> int | None: ...
    def list_protection(self, name: str) -> list[ProtectedAlias]: ...
    def set_protection(
        self, name: str, alias: str, required: int, *, actor: str, settle: Settle
    ) -> ProtectedAlias: ...
    def delete_protection(self, name: str, alias: str, *, actor: str, settle: Settle) -> None: ...
    def status(self, name: str, version: int) -> ApprovalStatus: ...
    def queue(self, limit: int = 100) -> list[ApprovalStatus]: ...
    def decide(
        self,
        name: str,
        version: int,
        decision: str,
        *,
        actor: str,
        comment: str,
        judge: Judge,
    ) -> ApprovalStatus:
        """Record ``actor``'s ``decision`` if ``judge`` accepts it, atomically with the new status."""
        ...
