"""Access commands: ``tokens create|list|revoke`` and ``audit verify``.

Locally (direct database access) the actor is the OS user; with ``--url``/``SHIPYARD_URL`` the
commands go through the server's management API as the principal of ``--token``.
"""

from __future__ import annotations

import typer

from shipyard.core.durations import parse_duration
from shipyard.interfaces.cli.context import remote, services
from shipyard.interfaces.cli.output import console, emit, err_console, print_json, print_table
from shipyard.interfaces.serialize import plain

JSON = typer.Option(False, "--json", help="Print JSON for scripts instead of text.")

tokens_app = typer.Typer(
    help="Bearer tokens for the server: who may do what.", no_args_is_help=True
)


@tokens_app.command("create")
def tokens_create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The principal the token acts as (e.g. alice, ci-bot)."),
    role: list[str] = typer.Option(
        ..., "--role", help="viewer, predictor, operator, approver or admin (repeatable)."
    ),
    expires: str | None = typer.Option(
        None, "--expires", help="Lifetime, e.g. 90d (default: none)."
    ),
    as_json: bool = JSON,
) -> None:
    """Create a token for NAME; its secret is printed once and only its hash is kept."""
    lifetime = parse_duration(expires, "--expires") if expires else None
    client = remote(ctx)
    if client is not None:
        body: dict[str, object] = {"name": name, "roles": role}
        if lifetime is not None:
            body["expires_in_seconds"] = lifetime.total_seconds()
        result = client.call("POST", "/api/tokens", body)
        secret = str(result["secret"])
    else:
        svc = services(ctx)
        issued = svc.tokens.create(name, role, actor=svc.registry.actor, expires_in=lifetime)
        result, secret = {"token": plain(issued.token), "secret": issued.secret}, issued.secret
    if as_json:
        print_json(result)
        return
    err_console.print(
        f"token {name} ({', '.join(role)}) created; this is the only time its secret is shown:",
        highlight=False,
        markup=False,
    )
    typer.echo(secret)


@tokens_app.command("list")
def tokens_list(ctx: typer.Context, as_json: bool = JSON) -> None:
    """Every token: name, roles, expiry and revocation (never the secrets)."""
    client = remote(ctx)
    rows = client.call("GET", "/api/tokens") if client else plain(services(ctx).tokens.list())
    emit(
        rows,
        as_json,
        lambda: print_table(
            None,
            ["name", "roles", "created", "by", "expires", "revoked"],
            [
                (
                    t["name"],
                    ", ".join(t["roles"]),
                    t["created_at"],
                    t["created_by"],
                    t["expires_at"] or "never",
                    t["revoked_at"] or "",
                )
                for t in rows
            ],
        ),
    )


@tokens_app.command("revoke")
def tokens_revoke(ctx: typer.Context, name: str, as_json: bool = JSON) -> None:
    """Revoke the token of NAME (a server stops accepting it within a second)."""
    client = remote(ctx)
    if client is not None:
        result = client.call("DELETE", f"/api/tokens/{name}", {})
    else:
        svc = services(ctx)
        result = plain(svc.tokens.revoke(name, actor=svc.registry.actor))
    emit(result, as_json, lambda: console.print(f"revoked token {name}", markup=False))


def audit_verify(ctx: typer.Context, as_json: bool = JSON) -> None:
    """Check the audit log's hash chain; name the first broken link and exit 1 if there is one."""
    client = remote(ctx)
    report = (
        client.call("GET", "/api/audit/verify")
        if client
        else plain(services(ctx).registry.verify_audit())
    )

    def render() -> None:
        if report["ok"]:
            console.print(
                f"audit chain intact: {report['checked']} event(s), head {report['head_id']} "
                f"sha256:{report['head_hash']}",
                markup=False,
            )
        else:
            err_console.print(f"audit chain BROKEN: {report['problem']}", markup=False)

    emit(report, as_json, render)
    if not report["ok"]:
        raise typer.Exit(1)
