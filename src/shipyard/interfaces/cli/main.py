"""The ``shipyard`` command: root options, sub-commands, and the one place errors become exits."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from shipyard._version import __version__
from shipyard.interfaces.cli import access as access_cmds
from shipyard.interfaces.cli import build as build_cmds
from shipyard.interfaces.cli import deployments as deployment_cmds
from shipyard.interfaces.cli import gc as gc_cmds
from shipyard.interfaces.cli import governance as governance_cmds
from shipyard.interfaces.cli import lifecycle as lifecycle_cmds
from shipyard.interfaces.cli import monitoring as monitoring_cmds
from shipyard.interfaces.cli import registry as registry_cmds
from shipyard.interfaces.cli.context import services, set_overrides, state
from shipyard.interfaces.cli.drift import drift
from shipyard.interfaces.cli.explain import explain
from shipyard.interfaces.cli.interop import convert, import_app
from shipyard.interfaces.cli.output import console, emit, err_console, styled
from shipyard.interfaces.cli.report import report
from shipyard.interfaces.cli.score import score
from shipyard.interfaces.cli.serve import serve
from shipyard.interfaces.cli.ui import ui

app = typer.Typer(
    name="shipyard",
    help="Shipyard: package, register, serve, monitor and maintain ML models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
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
app.command("drift")(drift)
app.command("apply")(lifecycle_cmds.apply)
app.command("retrain")(lifecycle_cmds.retrain)
app.add_typer(governance_cmds.protect_app, name="protect")
app.command("approve")(governance_cmds.approve)
app.command("reject")(governance_cmds.reject)
app.command("approvals")(governance_cmds.approvals)
app.command("card")(governance_cmds.card)
app.command("register")(registry_cmds.register)
app.add_typer(registry_cmds.audit_app, name="audit")
app.add_typer(access_cmds.tokens_app, name="tokens")
app.command("trust")(registry_cmds.trust)
app.command("serve")(serve)
app.command("ui")(ui)
app.command("score")(score)
app.command("build")(build_cmds.build)
app.command("k8s")(build_cmds.k8s)
app.command("gc")(gc_cmds.gc)
app.command("explain")(explain)
app.add_typer(import_app, name="import")
app.command("convert")(convert)


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
    url: str | None = typer.Option(
        None, "--url", help="A Shipyard server: registry commands go through it ($SHIPYARD_URL)."
    ),
    token: str | None = typer.Option(
        None, "--token", help="Bearer token for --url ($SHIPYARD_TOKEN).", show_default=False
    ),
    project: Path | None = typer.Option(
        None, "--project", help="A shipyard.yaml project file (default: $SHIPYARD_PROJECT)."
    ),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True),
) -> None:
    set_overrides(ctx, home, url, token)
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
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Write the predictions to this file (.parquet, .csv or .jsonl) instead of printing.",
    ),
    allow_code: bool = typer.Option(
        False, "--allow-code", help="Allow a package's own Python code to run (python flavor)."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Load a registered model and predict on a file."""
    import pandas as pd

    from shipyard.interfaces.cli.files import check_output, read_table, write_table

    if output is not None:
        check_output(output)  # before the work, not after
    data = read_table(input_path)
    model = services(ctx).registry.load(
        ref, allow_pickle=allow_pickle or None, allow_code=allow_code or None
    )
    preds = model.predict(data).tolist()
    result: dict[str, object] = {"model": ref, "predictions": preds}
    if proba:
        result["probabilities"] = model.predict_proba(data).tolist()
        result["classes"] = list(model.classes or ())
    if output is None:
        emit(result, as_json, lambda: console.print(result))
        return
    frame = pd.DataFrame({"prediction": preds})
    if proba:
        for i, cls in enumerate(model.classes or ()):
            frame[f"proba_{cls}"] = [row[i] for row in result["probabilities"]]  # type: ignore[attr-defined]
    write_table(frame, output)
    summary = {"model": ref, "rows": len(frame), "output": str(output.resolve())}
    emit(summary, as_json, lambda: console.print(f"{len(frame)} prediction(s) -> {output}"))


@app.command("demo")
def demo(
    home: Path | None = typer.Option(
        None, "--home", help="Use this home instead of a fresh temporary one."
    ),
) -> None:
    """Run the whole life of a model, end to end, on a fresh home.

    Trains and registers a churn model, makes it the champion, serves it on 127.0.0.1 with the
    controller, and sends traffic with ground truth. Then the world changes: the monitor flags the
    drift, the policy retrains on labels from after the change, the challenger beats the champion on
    held-out labels (gain >= 0.10, 95 % interval above 0), and a canary rollout with gates promotes
    it; a deliberately broken challenger is then rolled back by its success-rate gate. Prints a table
    of what happened and writes an HTML report; exits 0 only if every stage happened as described.
    """
    from shipyard.interfaces.cli.demo import run_demo

    run_demo(home)


def main(cli: typer.Typer, args: list[str] | None = None) -> int:
    """Run ``cli`` and return its exit code: every mistake is one line on stderr, never a
    traceback (``shipyard.interfaces.cli.errors`` has the codes; ``docs/cli.md`` lists them)."""
    from typer.exceptions import TyperException

    from shipyard.core.errors import ShipyardError
    from shipyard.interfaces.cli.errors import (
        DEBUG_ENV,
        INTERNAL_ERROR,
        INTERRUPTED,
        USAGE_ERROR,
        exit_code,
    )

    try:
        code = cli(args=args, prog_name="shipyard", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except ShipyardError as exc:
        _error(str(exc))
        return exit_code(exc)
    except TyperException as exc:  # Typer's own parsing errors (its vendored click's)
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help, as before
            from typer import rich_utils

            rich_utils.rich_format_error(exc)  # type: ignore[arg-type]
            return USAGE_ERROR
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        _error(f"{exc.format_message()}{hint}")
        return int(getattr(exc, "exit_code", USAGE_ERROR))
    except typer.Abort:
        _error("aborted")
        return 1
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return INTERRUPTED
    except BrokenPipeError:  # `shipyard ... | head`: the reader left; nothing to report
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the flush at exit
        return 1
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        _error(
            f"unexpected {type(exc).__name__}: {exc} (a bug in Shipyard: please report it; "
            f"rerun with {DEBUG_ENV}=1 to see the traceback)"
        )
        return INTERNAL_ERROR


def _error(message: str) -> None:
    err_console.print(styled(("error:", "red"), " ", " ".join(message.split())), soft_wrap=True)


def run() -> None:
    """Console entry point."""
    sys.exit(main(app))


if __name__ == "__main__":
    run()
