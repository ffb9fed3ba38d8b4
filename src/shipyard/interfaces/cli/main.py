"""The ``shipyard`` command: root options, sub-commands, and the one place errors become exits."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from shipyard._version import __version__
from shipyard.interfaces.cli.context import services, set_overrides, state
from shipyard.interfaces.cli.lazy import Lazy, LazyGroup


def _at(target: str, help: str) -> Lazy:
    return Lazy(f"shipyard.interfaces.cli.{target}", help)


COMMANDS: dict[str, Lazy] = {
    "controller": _at(
        "deployments:controller",
        "Run the controller alone (rollouts, scheduled monitors); one per registry holds the lease.",
    ),
    "report": _at(
        "report:report",
        "Write the monitoring report of ENDPOINT: drift per feature with reference vs current "
        "distributions, performance, latency, errors and alerts over time. With --reference and "
        "--current instead, the drift report of a file (as `shipyard drift` computes it). The HTML "
        "file is self-contained (no script, no network access) and stays under 5 MB.",
    ),
    "drift": _at(
        "drift:drift",
        "Check CURRENT for drift against REFERENCE: the statistics and verdict of `shipyard monitor "
        "run`. Exit code 0: no drift, 1: drift, 2: bad input (one line on stderr).",
    ),
    "apply": _at("lifecycle:apply", "Make the registry match the project file (idempotent)."),
    "retrain": _at(
        "lifecycle:retrain", "Ask for a retraining of ENDPOINT (the trigger of 'manual' policies)."
    ),
    "approve": _at(
        "governance:approve",
        "Approve MODEL VERSION as yourself (not its creator; once per person).",
    ),
    "reject": _at(
        "governance:reject", "Reject MODEL VERSION: final, it can never become a protected alias."
    ),
    "approvals": _at(
        "governance:approvals", "The approval status of MODEL VERSION and every decision on it."
    ),
    "card": _at(
        "governance:card",
        "The model card of MODEL VERSION (Markdown, or a self-contained HTML page).",
    ),
    "register": _at(
        "registry:register",
        "Verify a package folder and register it as the next version of a model.",
    ),
    "trust": _at(
        "registry:trust",
        "Trust a version's own Python code (python flavor) to run when loaded; audited.",
    ),
    "serve": _at(
        "serve:serve",
        "Serve models; follows their aliases and swaps new versions in without downtime.",
    ),
    "ui": _at(
        "ui:ui",
        "Open the web console at http://HOST:PORT/ui (sign in with a token once any exists).",
    ),
    "score": _at(
        "score:score", "Score files with a model version; output rows keep the input order."
    ),
    "build": _at(
        "build:build",
        "Write a container build context (Dockerfile, package, pinned requirements, entrypoint).",
    ),
    "k8s": _at(
        "build:k8s",
        "Print Kubernetes manifests: Deployment, Service, HPA, PDB (and a RayService with --ray).",
    ),
    "gc": _at(
        "gc:gc",
        "Remove blobs no version references, temporary files of crashed writes, stale cache.",
    ),
    "explain": _at(
        "explain:explain",
        "Attribute each row's prediction to the model's input columns (base value + attributions).",
    ),
    "convert": _at(
        "interop:convert",
        "Convert a version (scikit-learn, XGBoost, LightGBM) and register the result as a new "
        "version, kept only if it predicts like its parent on the reference sample.",
    ),
    "predict": _at("main:predict", "Load a registered model and predict on a file."),
    "demo": _at("main:demo", "Run the whole life of a model, end to end, on a fresh home."),
    "models": _at("registry:models_app", "Registered models."),
    "versions": _at("registry:versions_app", "Model versions."),
    "alias": _at("registry:alias_app", "Aliases: movable pointers such as churn@champion."),
    "tag": _at("registry:tag_app", "Tags on models and versions."),
    "db": _at("main:db_app", "Registry database schema."),
    "logs": _at("monitoring:logs_app", "The prediction log."),
    "feedback": _at(
        "monitoring:feedback_app", "Ground truth, joined to predictions by request id."
    ),
    "monitor": _at("monitoring:monitor_app", "Drift, performance and service monitoring."),
    "alerts": _at("monitoring:alerts_app", "Alerts raised by monitors."),
    "deploy": _at(
        "deployments:deploy_app",
        "Deployments: routes, shadows and sticky keys that servers follow.",
    ),
    "rollout": _at(
        "deployments:rollout_app", "Progressive rollouts with gates and automatic rollback."
    ),
    "protect": _at(
        "governance:protect_app", "Protected aliases: only approved versions may become them."
    ),
    "audit": _at("registry:audit_app", "The audit log (a hash chain)."),
    "tokens": _at("access:tokens_app", "Bearer tokens for the server: who may do what."),
    "import": _at("interop:import_app", "Register models made by other tools."),
}
"""Every command of ``shipyard``, in the order of ``shipyard --help``, imported on first use."""


class ShipyardGroup(LazyGroup):
    lazy_commands = COMMANDS


app = typer.Typer(
    name="shipyard",
    cls=ShipyardGroup,
    help="Shipyard: package, register, serve, monitor and maintain ML models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)
db_app = typer.Typer(help="Registry database schema.", no_args_is_help=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"shipyard {__version__}")
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
    from shipyard.interfaces.cli.output import console
    from shipyard.registry.sql import schema

    engine = open_engine(state(ctx).settings())
    result = schema.upgrade(engine)
    console.print(f"registry schema at revision {result.current} (head {result.head})")


@db_app.command("check")
def db_check(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Exit 0 if the schema is up to date, 1 if migrations are pending."""
    from shipyard.app import open_engine
    from shipyard.interfaces.cli.output import console, emit
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
    from shipyard.interfaces.cli.output import console, emit

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
        from shipyard.interfaces.cli.output import err_console

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
    from shipyard.interfaces.cli.output import err_console, styled

    err_console.print(styled(("error:", "red"), " ", " ".join(message.split())), soft_wrap=True)


def run() -> None:
    """Console entry point."""
    sys.exit(main(app))


if __name__ == "__main__":
    run()
