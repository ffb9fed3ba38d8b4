"""Registry commands: models, versions, register, alias, tag, audit."""

from __future__ import annotations

from pathlib import Path

import typer

from shipyard.core.durations import parse_time
from shipyard.interfaces.cli.access import audit_verify
from shipyard.interfaces.cli.context import remote, services
from shipyard.interfaces.cli.output import console, emit, kv, print_json, print_table, styled, when
from shipyard.interfaces.cli.parsing import parse_tags
from shipyard.interfaces.serialize import plain

JSON = typer.Option(False, "--json", help="Print JSON for scripts instead of a table.")
TAG = typer.Option(None, "--tag", help="Filter by tag KEY=VALUE (repeatable).")

models_app = typer.Typer(help="Registered models.", no_args_is_help=True)
versions_app = typer.Typer(help="Model versions.", no_args_is_help=True)
alias_app = typer.Typer(
    help="Aliases: movable pointers such as churn@champion.", no_args_is_help=True
)
tag_app = typer.Typer(help="Tags on models and versions.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log (a hash chain).")
audit_app.command("verify")(audit_verify)


@models_app.command("list")
def models_list(
    ctx: typer.Context,
    prefix: str | None = typer.Option(None, help="Only names starting with this."),
    tag: list[str] | None = TAG,
    limit: int = typer.Option(1000, min=1),
    as_json: bool = JSON,
) -> None:
    """List registered models."""
    client = remote(ctx)
    if client is not None:
        print_json(client.call("GET", "/api/models", params={"prefix": prefix or ""}))
        return
    models = services(ctx).registry.list_models(prefix=prefix, tags=parse_tags(tag), limit=limit)
    emit(
        models,
        as_json,
        lambda: print_table(
            None,
            ["name", "latest", "aliases", "tags", "updated"],
            [
                (
                    m.name,
                    m.latest_version,
                    kv({f"@{a}": v for a, v in m.aliases.items()}),
                    kv(m.tags),
                    when(m.updated_at),
                )
                for m in models
            ],
        ),
    )


@models_app.command("show")
def models_show(ctx: typer.Context, name: str, as_json: bool = JSON) -> None:
    """Show one model with its versions."""
    client = remote(ctx)
    if client is not None:
        print_json(client.call("GET", f"/api/models/{name}"))
        return
    registry = services(ctx).registry
    model = registry.get_model(name)
    versions = registry.list_versions(name)

    def render() -> None:
        console.print(styled((model.name, "bold"), f"  {model.description or ''}"))
        console.print(f"aliases: {kv({'@' + a: v for a, v in model.aliases.items()}) or '-'}")
        console.print(f"tags: {kv(model.tags) or '-'}")
        _versions_table(versions)

    emit({"model": model, "versions": versions}, as_json, render)


@models_app.command("delete")
def models_delete(
    ctx: typer.Context,
    name: str,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a model and all its versions (refused while it has aliases)."""
    if not yes:
        typer.confirm(f"Delete model {name!r} and all its versions?", abort=True)
    services(ctx).registry.delete_model(name)
    console.print(f"deleted model {name}")


def _versions_table(versions: list) -> None:  # type: ignore[type-arg]
    print_table(
        None,
        ["version", "flavor", "aliases", "digest", "metrics", "created", "by"],
        [
            (
                v.version,
                v.flavor,
                " ".join("@" + a for a in v.aliases),
                v.digest[7:19],
                kv({k: f"{m:.4g}" for k, m in v.metrics.items()}),
                when(v.created_at),
                v.created_by,
            )
            for v in versions
        ],
    )


@versions_app.command("list")
def versions_list(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="Model name; omit to search all models."),
    prefix: str | None = typer.Option(None, help="Only models whose name starts with this."),
    tag: list[str] | None = TAG,
    limit: int = typer.Option(1000, min=1),
    as_json: bool = JSON,
) -> None:
    """List (or search) versions, newest first."""
    client = remote(ctx)
    if client is not None and name is not None:
        print_json(client.call("GET", f"/api/models/{name}/versions"))
        return
    versions = services(ctx).registry.list_versions(
        name, prefix=prefix, tags=parse_tags(tag), limit=limit
    )
    emit(versions, as_json, lambda: _versions_table(versions))


@versions_app.command("show")
def versions_show(ctx: typer.Context, name: str, version: int, as_json: bool = JSON) -> None:
    """Show a version with its manifest: signature, requirements, lineage."""
    client = remote(ctx)
    if client is not None:
        print_json(client.call("GET", f"/api/models/{name}/versions/{version}"))
        return
    registry = services(ctx).registry
    mv = registry.get_version(name, version)
    manifest = registry.manifest(mv)

    def render() -> None:
        console.print(styled((f"{mv.name}/{mv.version}", "bold"), f"  {mv.description or ''}"))
        console.print(f"digest: {mv.digest}")
        console.print(
            f"flavor: {manifest.flavor.name} ({manifest.flavor.framework} "
            f"{manifest.flavor.framework_version}, {manifest.flavor.serialization})"
        )
        console.print(f"aliases: {' '.join('@' + a for a in mv.aliases) or '-'}")
        console.print(f"tags: {kv(mv.tags) or '-'}   metrics: {kv(mv.metrics) or '-'}")
        sig = manifest.signature
        if sig.get("kind") == "columns":
            print_table(
                "inputs",
                ["column", "dtype", "nullable"],
                [(c["name"], c["dtype"], c["nullable"]) for c in sig["columns"]],
            )
        else:
            console.print(f"input tensor: {sig.get('tensor')}")
        reqs = manifest.requirements
        console.print(
            f"python {reqs.python}; " + ", ".join(f"{k}=={v}" for k, v in reqs.packages.items())
        )
        lin = manifest.lineage
        console.print(
            f"git: {lin.git_commit or '-'}{' (dirty)' if lin.git_dirty else ''}; "
            f"data: {lin.data_digest or '-'}"
        )

    emit({"version": mv, "manifest": plain(manifest)}, as_json, render)


@versions_app.command("delete")
def versions_delete(ctx: typer.Context, name: str, version: int) -> None:
    """Delete a version (refused while an alias points to it)."""
    services(ctx).registry.delete_version(name, version)
    console.print(f"deleted {name}/{version}")


def register(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="A package folder written by shipyard.package.save."),
    name: str | None = typer.Option(None, "--name", help="Model name (default: the package's)."),
    description: str | None = typer.Option(None, help="Version description."),
    tag: list[str] | None = typer.Option(None, "--tag", help="Version tag KEY=VALUE (repeatable)."),
    as_json: bool = JSON,
) -> None:
    """Verify a package folder and register it as the next version of a model."""
    mv = services(ctx).registry.register(
        path, name=name, description=description, tags=parse_tags(tag)
    )
    emit(mv, as_json, lambda: console.print(f"registered {mv.name}/{mv.version} ({mv.digest})"))


@alias_app.command("set")
def alias_set(
    ctx: typer.Context,
    model: str,
    alias: str,
    version: int,
    reason: str = typer.Option("", help="Why (kept in the alias history)."),
    as_json: bool = JSON,
) -> None:
    """Point MODEL@ALIAS at VERSION (a protected alias only at an approved version)."""
    client = remote(ctx)
    if client is not None:
        ev = client.set_alias(model, alias, version, reason=reason)
        before, after = ev["from_version"], ev["to_version"]
    else:
        event = services(ctx).registry.set_alias(model, alias, version, reason=reason)
        ev, before, after = event, event.from_version, event.to_version
    moved = f"{before} -> {after}" if before else f"-> {after}"
    emit(ev, as_json, lambda: console.print(f"{model}@{alias}: {moved}", markup=False))


@alias_app.command("delete")
def alias_delete(
    ctx: typer.Context, model: str, alias: str, reason: str = typer.Option(""), as_json: bool = JSON
) -> None:
    """Remove MODEL@ALIAS (the removal is kept in its history)."""
    client = remote(ctx)
    if client is not None:
        ev = client.delete_alias(model, alias, reason=reason)
        was = ev["from_version"]
    else:
        event = services(ctx).registry.delete_alias(model, alias, reason=reason)
        ev, was = event, event.from_version
    emit(ev, as_json, lambda: console.print(f"deleted {model}@{alias} (was {was})", markup=False))


@alias_app.command("show")
def alias_show(
    ctx: typer.Context,
    model: str,
    alias: str,
    at: str | None = typer.Option(
        None, "--at", help="Time (ISO or '2h' ago): where it pointed then."
    ),
    as_json: bool = JSON,
) -> None:
    """Where MODEL@ALIAS points now, or pointed at a given time."""
    client = remote(ctx)
    if client is not None and at is None:
        print_json(client.call("GET", f"/api/models/{model}/aliases/{alias}"))
        return
    registry = services(ctx).registry
    if at is not None:
        moment = parse_time(at, "--at")
        version = registry.alias_at(model, alias, moment)
        payload = {"name": model, "alias": alias, "at": moment, "version": version}
        emit(
            payload,
            as_json,
            lambda: console.print(
                f"{model}@{alias} at {when(moment)}: {version if version is not None else 'unset'}"
            ),
        )
        return
    current = registry.get_alias(model, alias)
    emit(
        current,
        as_json,
        lambda: console.print(
            f"{model}@{alias} -> {current.version} (since {when(current.updated_at)} by {current.updated_by})"
        ),
    )


@alias_app.command("history")
def alias_history(ctx: typer.Context, model: str, alias: str, as_json: bool = JSON) -> None:
    """Every move of MODEL@ALIAS, oldest first."""
    client = remote(ctx)
    if client is not None:
        print_json(client.call("GET", f"/api/models/{model}/aliases/{alias}/history"))
        return
    events = services(ctx).registry.alias_history(model, alias)
    emit(
        events,
        as_json,
        lambda: print_table(
            f"{model}@{alias}",
            ["when", "from", "to", "actor", "reason"],
            [
                (
                    when(e.at),
                    e.from_version,
                    e.to_version if e.to_version is not None else "(deleted)",
                    e.actor,
                    e.reason,
                )
                for e in events
            ],
        ),
    )


@tag_app.command("set")
def tag_set(
    ctx: typer.Context,
    model: str,
    key: str,
    value: str,
    version: int | None = typer.Option(None, "--version", help="Tag this version, not the model."),
) -> None:
    """Set a tag on a model (or a version with --version)."""
    services(ctx).registry.set_tag(model, key, value, version=version)
    console.print(f"{model}{'/' + str(version) if version else ''}: {key}={value}")


@tag_app.command("delete")
def tag_delete(
    ctx: typer.Context,
    model: str,
    key: str,
    version: int | None = typer.Option(None, "--version", help="Untag this version."),
) -> None:
    """Delete a tag from a model (or a version with --version)."""
    services(ctx).registry.delete_tag(model, key, version=version)
    console.print(f"{model}{'/' + str(version) if version else ''}: removed {key}")


@audit_app.callback(invoke_without_command=True)
def audit(
    ctx: typer.Context,
    since: str | None = typer.Option(None, help="ISO time or duration ago (1h, 2d)."),
    action: str | None = typer.Option(None, help="Action prefix, e.g. alias or version.create."),
    target: str | None = typer.Option(None, help="A model name, name/3 or name@alias."),
    limit: int = typer.Option(100, min=1),
    as_json: bool = JSON,
) -> None:
    """The audit log, newest first (``audit verify`` checks its hash chain)."""
    if ctx.invoked_subcommand is not None:
        return
    client = remote(ctx)
    if client is not None:
        params = {"limit": str(limit), "action": action or "", "target": target or ""}
        print_json(client.call("GET", "/api/audit", params=params))
        return
    events = services(ctx).registry.audit(
        since=parse_time(since, "--since") if since else None,
        action=action,
        target=target,
        limit=limit,
    )
    emit(
        events,
        as_json,
        lambda: print_table(
            None,
            ["id", "when", "actor", "action", "target", "details"],
            [(e.id, when(e.at), e.actor, e.action, e.target, kv(e.details)) for e in events],
        ),
    )


def trust(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="Model name."),
    version: int = typer.Argument(..., min=1, help="Version whose own code may run when loaded."),
    as_json: bool = JSON,
) -> None:
    """Trust a version's own Python code (python flavor) to run when loaded; audited."""
    found = services(ctx).registry.trust(model, version)
    emit(
        {"model": found.name, "version": found.version, "digest": found.digest},
        as_json,
        lambda: console.print(
            f"trusted the code of {found.ref} ({found.digest[:19]}…)", markup=False
        ),
    )
