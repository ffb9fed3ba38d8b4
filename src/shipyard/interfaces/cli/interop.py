"""``shipyard import mlflow`` and ``shipyard convert``: models in from MLflow, out to ONNX."""

from __future__ import annotations

import typer

from shipyard.interfaces.cli.context import services
from shipyard.interfaces.cli.output import console, emit

import_app = typer.Typer(help="Register models made by other tools.", no_args_is_help=True)


@import_app.command("mlflow")
def import_mlflow(
    ctx: typer.Context,
    source: str = typer.Argument(
        ..., help="An MLflow model folder (with its MLmodel file), or a runs:/ or models:/ URI."
    ),
    name: str = typer.Option(..., "--name", help="The registered model to add a version to."),
    allow_pickle: bool = typer.Option(
        False,
        "--allow-pickle",
        help="Read pickle/cloudpickle models and python_function code (only if you trust them).",
    ),
    tracking_uri: str | None = typer.Option(
        None,
        "--tracking-uri",
        help=(
            "MLflow tracking store, for runs:/ and models:/ URIs and the run's params/metrics: "
            "sqlite:///mlflow.db or an mlruns folder (read directly), or a server URL (needs "
            "the mlflow extra)."
        ),
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Import an MLflow model as a new version: signature, input example (sample and reference
    profile), requirements and run lineage are kept."""
    version = services(ctx).registry.import_mlflow(
        source, name=name, allow_pickle=allow_pickle, tracking_uri=tracking_uri
    )
    payload = {"name": version.name, "version": version.version, "flavor": version.flavor}
    emit(
        payload,
        as_json,
        lambda: console.print(
            f"imported {source} as {version.ref} ({version.flavor})", markup=False, highlight=False
        ),
    )


def convert(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="Model reference: name@alias, name/3, models:/..."),
    to: str = typer.Option(..., "--to", help="Target format: onnx."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Convert a version (scikit-learn, XGBoost, LightGBM) and register the result as a new
    version, kept only if it predicts like its parent on the reference sample."""
    from shipyard.registry.conversion import convert_version

    result = convert_version(services(ctx).registry, ref, to=to)
    payload = {
        "name": result.version.name,
        "version": result.version.version,
        "parent": result.parent,
        "rows_checked": result.rows,
        "max_probability_difference": result.max_difference,
    }
    emit(
        payload,
        as_json,
        lambda: console.print(
            f"converted {result.parent} to {to}: {result.version.ref} "
            f"({result.rows} reference rows, labels equal, "
            f"largest probability difference {result.max_difference:.2g})",
            markup=False,
            highlight=False,
        ),
    )
