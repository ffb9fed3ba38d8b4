"""The ``shipyard`` command: root options, sub-commands, and the one place errors become exits."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from shipyard._version import __version__
from shipyard.interfaces.cli import deployments as deployment_cmds
from shipyard.interfaces.cli import gc as gc_cmds
from shipyard.interfaces.cli import governance as governance_cmds
from shipyard.interfaces.cli import lifecycle as lifecycle_cmds
from shipyard.interfaces.cli import monitoring as monitoring_cmds
from shipyard.interfaces.cli import registry as registry_cmds
from shipyard.interfaces.cli.context import services, set_overrides, state
from shipyard.interfaces.cli.output import console, emit, err_console
from shipyard.interfaces.cli.report import report
from shipyard.interfaces.cli.serve import serve

app = typer.Typer(
    name="shipyard",
    help="Shipyard: package, register, serve, monitor and maintain ML models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Registry database schema.", no_args_is_help=True)

app.add_typer(registry_cmds.models_app, name="models")
app.add_typer(registry_cmds.versions_app, name="versions")
app.add_typer(registry_cmds.alias_app, name="alias")
app.add_typer(registry_cmds.tag_app, name="tag")
app.add_typer(db_app, name="db")
app.add_typer(monitoring_cmds.logs_app, name="logs")
app.add_typer(monitoring_cmds.feedback_app, name="feedback")
app.add_typer(monitoring_cmds.monitor_app, name="monitor")
app.add_typer(monitoring_cmds.alerts_app, name="alerts")
app.add_typer(deployment_cmds.deploy_app, name="deploy")
app.add_typer(deployment_cmds.rollout_app, name="rollout")
app.command("controller")(deployment_cmds.controller)
app.command("report")(report)
app.command("apply")(lifecycle_cmds.apply)
app.command("retrain")(lifecycle_cmds.retrain)
app.add_typer(governance_cmds.protect_app, name="protect")
app.command("approve")(governance_cmds.approve)
app.command("reject")(governance_cmds.reject)
app.command("approvals")(governance_cmds.approvals)
app.command("card")(governance_cmds.card)
app.command("register")(registry_cmds.register)
app.command("audit")(registry_cmds.audit)
app.command("trust")(registry_cmds.trust)
app.command("serve")(serve)
app.command("gc")(gc_cmds.gc)


def _version(value: bool) -> None:
    if value:
        console.print(f"shipyard {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    home: Path | None = typer.Option(
        None, "--home", help="Registry home (default: $SHIPYARD_HOME or ./.shipyard)."
    ),
    actor: str | None = typer.Option(
        None,
        "--actor",
        help="Name recorded in the audit log (default: $SHIPYARD_ACTOR or the OS user).",
    ),
    project: Path | None = typer.Option(
        None, "--project", help="A shipyard.yaml project file (default: $SHIPYARD_PROJECT)."
    ),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True),
) -> None:
    set_overrides(ctx, home, actor)
    if project is not None:
        state(ctx).overrides["project"] = project.resolve()
    ctx.call_on_close(state(ctx).close)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply pending schema migrations to the registry database."""
    from shipyard.app import open_engine
    from shipyard.registry.sql import schema

    engine = open_engine(state(ctx).settings())
    result = schema.upgrade(engine)
    console.print(f"registry schema at revision {result.current} (head {result.head})")


@db_app.command("check")
def db_check(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Exit 0 if the schema is up to date, 1 if migrations are pending."""
    from shipyard.app import open_engine
    from shipyard.registry.sql import schema

    result = schema.status(open_engine(state(ctx).settings()))
    payload = {"current": result.current, "head": result.head, "up_to_date": result.up_to_date}
    emit(
        payload,
        as_json,
        lambda: console.print(
            f"current {result.current or '(empty)'}, head {result.head}: "
            + ("up to date" if result.up_to_date else "run `shipyard db upgrade`")
        ),
    )
    if not result.up_to_date:
        raise typer.Exit(1)


@app.command("predict")
def predict(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="Model reference: name@alias, name/3, models:/..."),
    input_path: Path = typer.Option(
        ..., "--input", "-i", help="CSV, JSON (records) or Parquet file."
    ),
    proba: bool = typer.Option(False, "--proba", help="Also print class probabilities."),
    allow_pickle: bool = typer.Option(False, "--allow-pickle", help="Allow pickle-based packages."),
    allow_code: bool = typer.Option(
        False, "--allow-code", help="Allow a package's own Python code to run (python flavor)."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Load a registered model and predict on a file."""
    from shipyard.interfaces.cli.files import read_table

    data = read_table(input_path)
    model = services(ctx).registry.load(
        ref, allow_pickle=allow_pickle or None, allow_code=allow_code or None
    )
    preds = model.predict(data).tolist()
    result: dict[str, object] = {"model": ref, "predictions": preds}
    if proba:
        result["probabilities"] = model.predict_proba(data).tolist()
        result["classes"] = list(model.classes or ())
    emit(result, as_json, lambda: console.print(result))


@app.command("demo")
def demo(
    home: Path | None = typer.Option(
        None, "--home", help="Use this home instead of a fresh temporary one."
    ),
) -> None:
    """Train, register, alias, load and predict end to end on a fresh temporary home."""
    from shipyard.interfaces.cli.demo import run_demo

    run_demo(home)


def run() -> None:
    """Console entry point: every ShipyardError is one line on stderr and a non-zero exit code."""
    from shipyard.core.errors import ShipyardError
    from shipyard.interfaces.cli.errors import exit_code

    try:
        app()
    except ShipyardError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exit_code(exc))
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    run()
