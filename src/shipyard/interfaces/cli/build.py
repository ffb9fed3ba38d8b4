"""``shipyard build`` and ``shipyard k8s``: a container build context, and manifests for a cluster."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from shipyard.interfaces.cli.context import services
from shipyard.interfaces.cli.output import console, emit


def build(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="Model reference: name@alias, name/3, models:/..."),
    output: Path = typer.Option(..., "--output", "-o", help="A new (or empty) directory."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty directory."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Write a container build context (Dockerfile, package, pinned requirements, entrypoint)."""
    from shipyard.interfaces.deploy.context import write_context

    built = write_context(services(ctx).registry, ref, output, force=force)
    result = {
        "version": built.version.ref,
        "directory": str(built.directory),
        "python": built.python,
        "requirements": built.requirements,
        "image": built.image,
    }
    emit(
        result,
        as_json,
        lambda: console.print(
            f"build context for {built.version.ref} in {built.directory}\n"
            f"  docker build -t {built.image} {built.directory}",
            markup=False,
            highlight=False,
        ),
    )


def k8s(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="Model reference: name@alias, name/3, models:/..."),
    replicas: int = typer.Option(2, "--replicas", min=1, help="Pods (the autoscaler's minimum)."),
    max_replicas: int | None = typer.Option(None, "--max-replicas", min=1),
    image: str | None = typer.Option(
        None, "--image", help="Image (default: what `shipyard build` names it)."
    ),
    token_secret: str | None = typer.Option(
        None, "--token-secret", help="Secret holding the bearer token under key `token`."
    ),
    ray: bool = typer.Option(False, "--ray", help="Add a KubeRay RayService."),
) -> None:
    """Print Kubernetes manifests: Deployment, Service, HPA, PDB (and a RayService with --ray)."""
    from shipyard.interfaces.deploy.k8s import K8sOptions, manifests, render

    version = services(ctx).registry.resolve(ref)
    options = K8sOptions(
        name=version.name,
        ref=ref,
        image=image or f"shipyard-{version.name}:{version.version}",
        replicas=replicas,
        max_replicas=max_replicas,
        token_secret=token_secret,
    )
    sys.stdout.write(render(manifests(options, ray=ray)))
