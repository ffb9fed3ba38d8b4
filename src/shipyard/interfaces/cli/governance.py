"""Governance commands: approve, reject, approvals, protect set|delete|list, card.

The rules (no self-approval, distinct approvers, final decisions) live in
``shipyard.registry.governance``; these commands only translate arguments and print results.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from shipyard.core.errors import InvalidArgument
from shipyard.interfaces.cli.context import remote, services
from shipyard.interfaces.cli.output import console, emit, print_json, print_table, when

if TYPE_CHECKING:  # the service imports SQLAlchemy: only the commands that use it pay for it
    from shipyard.registry.entities import ApprovalStatus
    from shipyard.registry.governance import GovernanceService

JSON = typer.Option(False, "--json", help="Print JSON for scripts instead of text.")
FORMATS = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html"}

protect_app = typer.Typer(
    help="Protected aliases: only approved versions may become them.", no_args_is_help=True
)


def governance(ctx: typer.Context) -> GovernanceService:
    """The governance service over this invocation's registry (to move into ``shipyard.app``)."""
    return services(ctx).governance


def _print_status(status: ApprovalStatus) -> None:
    approvers = ", ".join(status.approved_by) or "none"
    console.print(
        f"{status.name}/{status.version}: {status.status} "
        f"({len(set(status.approved_by))} of {status.required} approval(s); by {approvers})",
        highlight=False,
    )


def approve(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="Model name."),
    version: int = typer.Argument(..., help="Version to approve."),
    comment: str = typer.Option("", "--comment", "-m", help="Why (kept with the decision)."),
    as_json: bool = JSON,
) -> None:
    """Approve MODEL VERSION as yourself (not its creator; once per person).

    Locally you are the OS user; with --url you are the principal of --token."""
    _decide(ctx, "approve", model, version, comment, as_json)


def _decide(
    ctx: typer.Context, decision: str, model: str, version: int, comment: str, as_json: bool
) -> None:
    client = remote(ctx)
    if client is not None:
        result = client.decide(decision, model, version, comment=comment)
        emit(result, as_json, lambda: print_json(result))
        return
    gov = governance(ctx)
    decide = gov.approve if decision == "approve" else gov.reject
    status = decide(model, version, actor=gov.registry.actor, comment=comment)
    emit(status, as_json, lambda: _print_status(status))


def reject(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="Model name."),
    version: int = typer.Argument(..., help="Version to reject."),
    comment: str = typer.Option("", "--comment", "-m", help="Why (kept with the decision)."),
    as_json: bool = JSON,
) -> None:
    """Reject MODEL VERSION: final, it can never become a protected alias."""
    _decide(ctx, "reject", model, version, comment, as_json)


def approvals(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="Model name."),
    version: int = typer.Argument(..., help="Version."),
    as_json: bool = JSON,
) -> None:
    """The approval status of MODEL VERSION and every decision on it."""
    client = remote(ctx)
    if client is not None:
        print_json(client.call("GET", f"/api/models/{model}/versions/{version}/approvals"))
        return
    status = governance(ctx).status(model, version)

    def render() -> None:
        _print_status(status)
        if status.approvals:
            print_table(
                None,
                ["when", "actor", "decision", "comment"],
                [(when(a.at), a.actor, a.decision, a.comment) for a in status.approvals],
            )

    emit(status, as_json, render)


@protect_app.command("set")
def protect_set(
    ctx: typer.Context,
    model: str,
    alias: str,
    approvals: int = typer.Option(1, "--approvals", min=1, help="Distinct approvers required."),
    as_json: bool = JSON,
) -> None:
    """Protect MODEL@ALIAS: only versions approved by N people may become it."""
    protected = governance(ctx).protect(model, alias, approvals)
    emit(
        protected,
        as_json,
        lambda: console.print(
            f"{model}@{alias} protected: {protected.required_approvals} approval(s) required",
            highlight=False,
        ),
    )


@protect_app.command("delete")
def protect_delete(ctx: typer.Context, model: str, alias: str) -> None:
    """Lift the protection of MODEL@ALIAS."""
    governance(ctx).unprotect(model, alias)
    console.print(f"{model}@{alias} is no longer protected", highlight=False)


@protect_app.command("list")
def protect_list(ctx: typer.Context, model: str, as_json: bool = JSON) -> None:
    """The protected aliases of MODEL."""
    protected = governance(ctx).list_protected(model)
    emit(
        protected,
        as_json,
        lambda: print_table(
            None,
            ["alias", "approvals", "updated", "by"],
            [
                ("@" + p.alias, p.required_approvals, when(p.updated_at), p.updated_by)
                for p in protected
            ],
        ),
    )


def card(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="Model name."),
    version: int = typer.Argument(..., help="Version."),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Write to this .md or .html file instead of printing."
    ),
    fmt: str = typer.Option(
        "markdown", "--format", help="markdown or html (a file's suffix decides when given)."
    ),
) -> None:
    """The model card of MODEL VERSION (Markdown, or a self-contained HTML page)."""
    from shipyard.registry.modelcard import model_card  # numpy and pandas, for the profiles

    chosen = FORMATS.get(output.suffix.lower(), fmt) if output is not None else fmt
    if chosen not in ("markdown", "html"):
        raise InvalidArgument(f"--format must be markdown or html, got {fmt!r}")
    gov = governance(ctx)
    result = model_card(gov.registry, model, version, governance=gov)
    text = result.html if chosen == "html" else result.markdown
    if output is None:
        sys.stdout.write(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    console.print(
        f"wrote the {chosen} model card of {model}/{version} to {output}", highlight=False
    )
