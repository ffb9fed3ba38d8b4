"""``DeploymentService``: create, change, inspect deployments; resolve what an endpoint serves."""

from __future__ import annotations

from shipyard.core.errors import AlreadyExists, NotFound
from shipyard.registry.deployments import (
    Deployment,
    DeploymentEvent,
    DeploymentSpec,
    DeploymentStore,
)
from shipyard.registry.refs import check_name
from shipyard.registry.service import RegistryService


class DeploymentService:
    def __init__(self, store: DeploymentStore, registry: RegistryService) -> None:
        self.store = store
        self.registry = registry

    def resolve(self, name: str, fallback_target: str | None = None) -> Deployment:
        """The stored deployment ``name``, else the implicit one serving ``fallback_target``."""
        found = self.store.find(name)
        if found is not None:
            return found
        if fallback_target is None:
            raise NotFound(f"no deployment named {name!r}; create it with `shipyard deploy create`")
        return Deployment.implicit_for(name, fallback_target)

    def _check_targets(self, spec: DeploymentSpec) -> None:
        for target in spec.targets():
            self.registry.resolve(target)  # NotFound / InvalidArgument with a precise message

    def create(
        self, name: str, spec: DeploymentSpec, *, actor: str | None = None, description: str = ""
    ) -> Deployment:
        check_name(name)
        if self.store.find(name) is not None:
            raise AlreadyExists(f"deployment {name!r} already exists; use `shipyard deploy set`")
        self._check_targets(spec)
        return self.store.put(
            name,
            spec,
            actor=actor or self.registry.actor,
            reason="created",
            description=description,
        )

    def set(
        self,
        name: str,
        spec: DeploymentSpec,
        *,
        actor: str | None = None,
        reason: str = "",
        expected_revision: int | None = None,
    ) -> Deployment:
        check_name(name)
        self._check_targets(spec)
        return self.store.put(
            name,
            spec,
            actor=actor or self.registry.actor,
            reason=reason,
            expected_revision=expected_revision,
        )

    def get(self, name: str) -> Deployment:
        found = self.store.find(name)
        if found is None:
            raise NotFound(f"no deployment named {name!r}")
        return found

    def all(self) -> list[Deployment]:
        return self.store.all()

    def history(self, name: str) -> list[DeploymentEvent]:
        events = self.store.history(name)
        if not events:
            raise NotFound(f"no deployment named {name!r} (and none ever was)")
        return events

    def delete(self, name: str, *, actor: str | None = None) -> None:
        self.store.delete(name, actor=actor or self.registry.actor)
