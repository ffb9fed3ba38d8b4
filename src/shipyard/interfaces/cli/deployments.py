"""Deployment, rollout and controller commands."""

from __future__ import annotations

import time

import typer

from shipyard.core.durations import duration_seconds
from shipyard.core.errors import InvalidArgument
from shipyard.interfaces.cli.context import remote, services
from shipyard.interfaces.cli.output import (
    console,
    emit,
    err_console,
    kv,
    print_json,
    print_table,
    styled,
    when,
)
from shipyard.registry.deployments import DeploymentSpec, Shadow, Sticky, parse_routes

JSON = typer.Option(False, "--json", help="Print JSON for scripts instead of a table.")
deploy_app = typer.Typer(
    help="Deployments: routes, shadows and sticky keys that servers follow.", no_args_is_help=True
)
rollout_app = typer.Typer(
    help="Progressive rollouts with gates and automatic rollback.", no_args_is_help=True
)


def _spec(routes: list[str], shadows: list[str] | None, sticky: str | None) -> DeploymentSpec:
    parsed_shadows = []
    for item in shadows or []:
        target, sep, pct = item.partition("=")
        try:
            parsed_shadows.append(Shadow(target, float(pct) if sep else 100.0))
        except ValueError as exc:
            raise InvalidArgument(f"--shadow {item!r}: expected REF[=PERCENT]") from exc
    stick = None
    if sticky:
        kind, sep, name = sticky.partition(":")
        if not sep or kind not in ("header", "field") or not name:
            raise InvalidArgument(f"--sticky {sticky!r}: expected header:NAME or field:NAME")
        stick = Sticky(kind, name)  # type: ignore[arg-type]
    return DeploymentSpec(routes=parse_routes(routes), shadows=tuple(parsed_shadows), sticky=stick)


ROUTE = typer.Option(..., "--route", "-r", help="REF=WEIGHT, e.g. churn@champion=90 (repeatable).")
SHADOW = typer.Option(
    None, "--shadow", help="REF[=PERCENT] mirrored, answers logged only (repeatable)."
)
STICKY = typer.Option(None, "--sticky", help="header:NAME or field:NAME: one user, one route.")


def _show(d: object) -> None:
    from shipyard.registry.deployments import Deployment

    assert isinstance(d, Deployment)
    console.print(
        styled(
            (d.name, "bold"), f" revision {d.revision} (by {d.updated_by} at {when(d.updated_at)})"
        )
    )
    print_table(
        "routes", ["target", "weight"], [(r.target, f"{r.weight:g}") for r in d.spec.routes]
    )
    if d.spec.shadows:
        print_table(
            "shadows", ["target", "percent"], [(s.target, f"{s.percent:g}") for s in d.spec.shadows]
        )
    if d.spec.sticky:
        console.print(f"sticky: {d.spec.sticky.kind} {d.spec.sticky.name}")


@deploy_app.command("create")
def deploy_create(
    ctx: typer.Context,
    name: str,
    route: list[str] = ROUTE,
    shadow: list[str] | None = SHADOW,
    sticky: str | None = STICKY,
    description: str = typer.Option(""),
    as_json: bool = JSON,
) -> None:
    """Create a deployment."""
    d = services(ctx).deployments.create(
        name, _spec(route, shadow, sticky), description=description
    )
    emit(d, as_json, lambda: _show(d))


@deploy_app.command("set")
def deploy_set(
    ctx: typer.Context,
    name: str,
    route: list[str] = ROUTE,
    shadow: list[str] | None = SHADOW,
    sticky: str | None = STICKY,
    reason: str = typer.Option(""),
    expected_revision: int | None = typer.Option(
        None,
        "--expected-revision",
        min=0,
        help="Change it only if it is still at this revision (else exit 4 with the current one).",
    ),
    as_json: bool = JSON,
) -> None:
    """Change a deployment's routes (servers follow within a second)."""
    d = services(ctx).deployments.set(
        name, _spec(route, shadow, sticky), reason=reason, expected_revision=expected_revision
    )
    emit(d, as_json, lambda: _show(d))


@deploy_app.command("show")
def deploy_show(ctx: typer.Context, name: str, as_json: bool = JSON) -> None:
    """Show a deployment."""
    d = services(ctx).deployments.get(name)
    emit(d, as_json, lambda: _show(d))


@deploy_app.command("list")
def deploy_list(ctx: typer.Context, as_json: bool = JSON) -> None:
    """List deployments."""
    items = services(ctx).deployments.all()
    emit(
        items,
        as_json,
        lambda: print_table(
            None,
            ["name", "revision", "routes", "shadows", "updated"],
            [
                (
                    d.name,
                    d.revision,
                    kv({r.target: f"{r.weight:g}" for r in d.spec.routes}),
                    kv({s.target: f"{s.percent:g}%" for s in d.spec.shadows}),
                    when(d.updated_at),
                )
                for d in items
            ],
        ),
    )


@deploy_app.command("history")
def deploy_history(ctx: typer.Context, name: str, as_json: bool = JSON) -> None:
    """Every revision of a deployment."""
    events = services(ctx).deployments.history(name)
    emit(
        events,
        as_json,
        lambda: print_table(
            name,
            ["revision", "when", "actor", "routes", "reason"],
            [
                (
                    e.revision,
                    when(e.at),
                    e.actor,
                    kv({r.target: f"{r.weight:g}" for r in e.spec.routes}),
                    e.reason,
                )
                for e in events
            ],
        ),
    )


@rollout_app.command("start")
def rollout_start(
    ctx: typer.Context,
    endpoint: str,
    to: int = typer.Option(..., "--to", help="The version to roll out."),
    strategy: str = typer.Option("canary", help="canary, bluegreen or shadow."),
    steps: str | None = typer.Option(None, help="Canary weights, e.g. 10,25,50,100."),
    interval: str = typer.Option("60s", help="Time between analyses (e.g. 30s, 5m)."),
    gate: list[str] | None = typer.Option(None, "--gate", help="NAME=VALUE, e.g. max_p99_ms=200."),
    failure_limit: int = typer.Option(0, min=0, help="Failed analyses tolerated before rollback."),
    keep_warm: str = typer.Option("30s", help="Blue/green: how long the old version stays loaded."),
    alias: str = typer.Option("champion", help="Alias moved on promotion (implicit deployments)."),
    as_json: bool = JSON,
) -> None:
    """Start a rollout; the controller advances it and rolls it back on a failed gate."""
    from shipyard.lifecycle.service import parse_gate

    try:
        weights = tuple(float(x) for x in steps.split(",")) if steps else None
    except ValueError as exc:
        raise InvalidArgument(f"--steps {steps!r}: expected numbers like 10,25,50,100") from exc
    client = remote(ctx)
    if client is not None:
        body: dict[str, object] = {
            "to": to,
            "strategy": strategy,
            "interval": duration_seconds(interval, "--interval"),
            "failure_limit": failure_limit,
            "gates": dict(item.split("=", 1) for item in gate or [] if "=" in item),
        }
        if weights:
            body["steps"] = list(weights)
        print_json(client.start_rollout(endpoint, body))
        return
    record = services(ctx).rollouts.start(
        endpoint,
        to_version=to,
        strategy=strategy,
        steps=weights,
        interval=duration_seconds(interval, "--interval"),
        gates=parse_gate(gate),
        failure_limit=failure_limit,
        keep_warm=duration_seconds(keep_warm, "--keep-warm", allow_zero=True),
        alias=alias,
    )
    emit(
        record,
        as_json,
        lambda: console.print(
            f"rollout {record.id} of {endpoint}: {record.state['stable']} -> {record.state['candidate']} "
            f"({strategy}); follow it with `shipyard rollout status {endpoint}`"
        ),
    )


@rollout_app.command("status")
def rollout_status(ctx: typer.Context, endpoint: str, as_json: bool = JSON) -> None:
    """The latest rollout of ENDPOINT with its timeline and gate values."""
    client = remote(ctx)
    if client is not None:
        print_json(client.call("GET", f"/api/rollouts/{endpoint}"))
        return
    status = services(ctx).rollouts.status(endpoint)
    r = status.rollout

    def render() -> None:
        state = status.state
        console.print(
            styled(
                (f"rollout {r.id}", "bold"),
                f" of {r.deployment}: {state.stable} -> {state.candidate} ({state.strategy}) — ",
                (r.status, "bold"),
                f", candidate at {state.weight:g}%",
            )
        )
        rows = []
        for e in status.events:
            analysis = e.details.get("analysis") or {}
            gates = ", ".join(
                f"{g['name']}={g['value']:.4g}{'' if g['passed'] else ' FAIL'}"
                for g in analysis.get("gates", [])
                if g.get("value") is not None
            )
            rows.append(
                (
                    when(e.at),
                    e.kind,
                    analysis.get("verdict", ""),
                    gates or e.details.get("reason", ""),
                )
            )
        print_table("timeline", ["when", "event", "verdict", "gates / reason"], rows)

    emit({"rollout": r, "events": status.events}, as_json, render)


def _action(name: str, verb: str) -> None:
    def command(ctx: typer.Context, endpoint: str, as_json: bool = JSON) -> None:
        client = remote(ctx)
        if client is not None:
            result = client.rollout_action(endpoint, name)
        else:
            result = getattr(services(ctx).rollouts, name)(endpoint)
        emit(result, as_json, lambda: console.print(f"{endpoint}: {verb}"))

    command.__doc__ = f"{verb.capitalize()} the active rollout of ENDPOINT."
    rollout_app.command(name)(command)


for _name, _verb in (("pause", "paused"), ("resume", "resumed"), ("promote", "promoted")):
    _action(_name, _verb)


@rollout_app.command("abort")
def rollout_abort(ctx: typer.Context, endpoint: str, as_json: bool = JSON) -> None:
    """Stop the active rollout and put the previous routes back."""
    client = remote(ctx)
    if client is not None:
        print_json(client.rollout_action(endpoint, "abort"))
        return
    record = services(ctx).rollouts.abort(endpoint)
    emit(
        record,
        as_json,
        lambda: console.print(f"{endpoint}: rollout {record.id} aborted, routes restored"),
    )


@rollout_app.command("rollback")
def rollout_rollback(ctx: typer.Context, endpoint: str, as_json: bool = JSON) -> None:
    """Abort the active rollout, or undo the last promotion (back to the alias's previous target,
    which must be approved if the alias is protected)."""
    client = remote(ctx)
    result = (
        client.rollout_action(endpoint, "rollback")
        if client is not None
        else services(ctx).rollouts.rollback(endpoint)
    )
    emit(result, as_json, lambda: console.print(f"{endpoint}: rolled back ({kv(result)})"))


def controller(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="One pass, then exit."),
    tick: float = typer.Option(0.5, min=0.05, help="Seconds between passes."),
) -> None:
    """Run the controller alone (rollouts, scheduled monitors); one per registry holds the lease."""
    ctl = services(ctx).controller(tick=tick)
    if once:
        leader = ctl.tick()
        ctl.stop()
        console.print("controller pass done" if leader else "another controller holds the lease")
        return
    err_console.print(f"controller {ctl.holder} running; Ctrl-C to stop")
    ctl.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        ctl.stop()
