"""The ``RegistryStore`` protocol: the metadata operations every backend implements.

Stores return frozen entities (``registry.entities``), never rows. Every mutation writes its audit
event in the same transaction as the change itself, so the log can never miss or invent a change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Protocol

from shipyard.registry.entities import (
    Alias,
    AliasEvent,
    AuditEvent,
    ChainReport,
    ModelVersion,
    NewVersion,
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

    def close(self) -> None: ...
