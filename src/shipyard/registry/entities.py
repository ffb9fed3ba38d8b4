"""Registry entities: frozen dataclasses, the only shapes that leave a store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Tag:
    key: str
    value: str


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    description: str
    created_at: dt.datetime
    updated_at: dt.datetime
    latest_version: int | None
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    digest: str
    """Package digest (``sha256:...``): the identity of the package's content."""
    manifest_blob: str
    """Blob key of the package manifest; the manifest lists the blobs of every file."""
    flavor: str
    description: str
    created_at: dt.datetime
    created_by: str
    size_bytes: int
    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"


@dataclass(frozen=True)
class NewVersion:
    """What a store needs to create a version; the version number is allocated by the store."""

    digest: str
    manifest_blob: str
    flavor: str
    size_bytes: int
    description: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Alias:
    name: str
    alias: str
    version: int
    updated_at: dt.datetime
    updated_by: str


@dataclass(frozen=True)
class AliasEvent:
    """One move of an alias. ``to_version`` is None when the alias was deleted."""

    id: int
    name: str
    alias: str
    from_version: int | None
    to_version: int | None
    actor: str
    at: dt.datetime
    reason: str


@dataclass(frozen=True)
class AuditEvent:
    id: int
    at: dt.datetime
    actor: str
    action: str
    """Dotted verb, e.g. ``version.create``, ``alias.set``, ``model.delete``."""
    target: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricPoint:
    """One value of one monitoring metric over one window of one endpoint."""

    endpoint: str
    metric: str
    """Dotted name, e.g. ``drift.score``, ``feature.age.psi``, ``performance.accuracy``."""
    value: float
    window_start: dt.datetime
    window_end: dt.datetime
    version: int | None = None
    monitor: str = "default"
    id: int | None = None


@dataclass(frozen=True)
class Alert:
    """A threshold crossed by a monitor: open while the condition holds, then resolved."""

    id: int
    endpoint: str
    rule: str
    """What crossed, e.g. ``dataset.drift`` or ``latency.p99_ms>500``; one open alert per rule."""
    severity: str
    """``warning`` or ``critical``."""
    status: str
    """``open`` or ``resolved``."""
    message: str
    value: float | None
    threshold: float | None
    opened_at: dt.datetime
    last_seen_at: dt.datetime
    resolved_at: dt.datetime | None = None
    monitor: str = "default"


@dataclass(frozen=True)
class ProtectedAlias:
    """An alias that only approved versions may become (see ``registry.governance``)."""

    name: str
    alias: str
    required_approvals: int
    updated_at: dt.datetime
    updated_by: str


@dataclass(frozen=True)
class Approval:
    """One reviewer's decision on a version: ``approved`` or ``rejected``."""

    id: int
    name: str
    version: int
    decision: str
    actor: str
    comment: str
    at: dt.datetime


@dataclass(frozen=True)
class ApprovalStatus:
    """Where a version stands: ``pending``, ``approved`` or ``rejected`` (the last two are final).

    ``approvals`` lists every decision, oldest first; ``required`` is the number of distinct approvers
    the model's strictest protected alias asks for (1 when none is protected).
    """

    status: str
    approvals: tuple[Approval, ...]
    required: int
    name: str
    version: int
    decided_at: dt.datetime | None = None

    @property
    def approved_by(self) -> tuple[str, ...]:
        return tuple(a.actor for a in self.approvals if a.decision == "approved")

    @property
    def final(self) -> bool:
        return self.status != "pending"


@dataclass(frozen=True)
class ChainReport:
    """The result of checking the audit chain (``shipyard audit verify``)."""

    ok: bool
    checked: int
    """Events whose links were checked."""
    head_id: int
    head_hash: str
    broken_at: int | None = None
    """Id of the first event whose link does not hold (None when ok, or when the end is missing)."""
    problem: str = ""


@dataclass(frozen=True)
class Token:
    """A bearer token's record: its secret is never stored, only a SHA-256 of it."""

    name: str
    """The principal the token authenticates as (the audit actor of its requests)."""
    roles: tuple[str, ...]
    created_at: dt.datetime
    created_by: str
    expires_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None

    def active(self, now: dt.datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True)
class IssuedToken:
    """A token just created, with its secret: shown once, then only its hash remains."""

    token: Token
    secret: str
