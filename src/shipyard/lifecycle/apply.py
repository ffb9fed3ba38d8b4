"""``shipyard apply``: make the registry match the project file (idempotent; a dry run changes nothing).

Reconciled: each declared deployment (created, or its routes set when they differ), each model's
description and its protected aliases (how many approvals a version needs before it may become them).
Monitors, retraining jobs and policies are read from the file by the controller itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.core.errors import NotFound
from shipyard.lifecycle.project import Project
from shipyard.registry.deployment_service import DeploymentService
from shipyard.registry.deployments import DeploymentSpec
from shipyard.registry.governance import GovernanceService
from shipyard.registry.service import RegistryService


@dataclass(frozen=True)
class Change:
    kind: str
    """``create``, ``update``, ``protect`` or ``missing`` (cannot be applied yet)."""
    target: str
    detail: str


def plan_changes(
    project: Project,
    registry: RegistryService,
    deployments: DeploymentService,
    governance: GovernanceService | None = None,
) -> list[Change]:
    changes: list[Change] = []
    for name, config in project.models.items():
        try:
            current = registry.get_model(name).description
        except NotFound:
            changes.append(
                Change("missing", f"model {name}", "not registered yet: register a version first")
            )
            continue
        if config.description is not None and config.description != current:
            changes.append(
                Change("update", f"model {name}", f"description -> {config.description!r}")
            )
        if governance is not None:
            for alias, protection in config.protected_aliases.items():
                if governance.protected(name, alias) != protection.approvals:
                    changes.append(
                        Change(
                            "protect",
                            f"alias {name}@{alias}",
                            f"needs {protection.approvals} approval(s)",
                        )
                    )
    for name, deployment in project.deployments.items():
        spec = deployment.spec()
        try:
            existing = deployments.get(name)
        except NotFound:
            changes.append(Change("create", f"deployment {name}", _routes(spec)))
            continue
        if existing.spec != spec:
            changes.append(
                Change(
                    "update", f"deployment {name}", f"{_routes(existing.spec)} -> {_routes(spec)}"
                )
            )
    return changes


def apply(
    project: Project,
    registry: RegistryService,
    deployments: DeploymentService,
    *,
    governance: GovernanceService | None = None,
    dry_run: bool = False,
    actor: str | None = None,
) -> list[Change]:
    changes = plan_changes(project, registry, deployments, governance)
    if dry_run:
        return changes
    for change in changes:
        kind, _, name = change.target.partition(" ")
        if kind == "model" and change.kind == "update":
            registry.describe(name, project.models[name].description or "", actor=actor)
        elif kind == "alias" and governance is not None:
            model, _, alias = name.partition("@")
            approvals = project.models[model].protected_aliases[alias].approvals
            governance.protect(model, alias, required_approvals=approvals, actor=actor)
        elif kind == "deployment" and change.kind == "create":
            config = project.deployments[name]
            deployments.create(name, config.spec(), actor=actor, description=config.description)
        elif kind == "deployment" and change.kind == "update":
            deployments.set(
                name, project.deployments[name].spec(), actor=actor, reason="shipyard apply"
            )
    return changes


def _routes(spec: DeploymentSpec) -> str:
    return ", ".join(f"{r.target}={r.weight:g}" for r in spec.routes)
