"""Closed-loop commands: ``apply`` a project file, request or run a ``retrain``."""

from __future__ import annotations

from pathlib import Path

import typer

from shipyard.interfaces.cli.context import services
from shipyard.interfaces.cli.output import console, emit, print_table


def apply(
    ctx: typer.Context,
    file: Path = typer.Option(Path("shipyard.yaml"), "-f", "--file", help="The project file."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show what would change; change nothing."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Make the registry match the project file (idempotent)."""
    from shipyard.lifecycle.apply import apply as reconcile
    from shipyard.lifecycle.project import load

    project = load(file)
    svc = services(ctx)
    changes = reconcile(
        project, svc.registry, svc.deployments, governance=svc.governance, dry_run=dry_run
    )

    def render() -> None:
        if not changes:
            console.print(f"{file}: nothing to change")
            return
        verb = "would change" if dry_run else "changed"
        print_table(
            f"{file}: {verb}",
            ["change", "target", "detail"],
            [(c.kind, c.target, c.detail) for c in changes],
        )

    emit({"dry_run": dry_run, "changes": changes}, as_json, render)


def retrain(
    ctx: typer.Context,
    endpoint: str,
    run: bool = typer.Option(
        False,
        "--run",
        help="Run the project's policy for ENDPOINT here and now (default: ask the controller).",
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Ask for a retraining of ENDPOINT (the trigger of 'manual' policies)."""
    svc = services(ctx)
    if not run:
        svc.registry.record("retrain.request", endpoint, {"source": "cli"})
        emit(
            {"requested": endpoint},
            as_json,
            lambda: console.print(
                f"retraining of {endpoint} requested; the controller runs the project's manual policy"
            ),
        )
        return
    from shipyard.core.errors import InvalidArgument
    from shipyard.lifecycle.policies import Action

    project = svc.project()
    if project is None:
        raise InvalidArgument(
            "--run needs a project file: pass --project shipyard.yaml (or SHIPYARD_PROJECT)"
        )
    policies = [
        p for p in project.policy_objects() if p.endpoint == endpoint and p.trigger.kind == "manual"
    ]
    if not policies:
        raise InvalidArgument(f"the project has no policy with a manual trigger for {endpoint!r}")
    loop = svc.closed_loop(project)
    try:
        policy = policies[0]
        why = {"trigger": "manual", "source": "cli"}
        svc.registry.record(
            "policy.fire",
            endpoint,
            {"policy": policy.name, "why": why, "actions": list(policy.actions)},
        )
        outcome = loop.execute(
            policy, [Action(a, policy.name, endpoint, why) for a in policy.actions]
        )
    finally:
        loop.close()
    result = {
        "policy": outcome.policy,
        "new_version": outcome.retrain.version.ref
        if outcome.retrain and outcome.retrain.version
        else None,
        "verdict": outcome.evaluation.verdict if outcome.evaluation else None,
        "rollout": outcome.rollout_id,
        "stopped": outcome.stopped,
    }
    emit(result, as_json, lambda: console.print(result))
