"""``RolloutService``: start rollouts and carry out the state machine's decisions (I/O lives here)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

from shipyard.core.errors import Conflict, InvalidArgument, NotFound
from shipyard.lifecycle import rollouts as machine
from shipyard.lifecycle.evidence import gather
from shipyard.lifecycle.gates import Analysis, GateConfig, analyze
from shipyard.registry.deployment_service import DeploymentService
from shipyard.registry.deployments import (
    DeploymentSpec,
    DeploymentStore,
    RolloutEvent,
    RolloutRecord,
)
from shipyard.registry.governance import GovernanceService
from shipyard.registry.refs import parse_ref
from shipyard.registry.service import RegistryService
from shipyard.telemetry.reader import LogReader

log = logging.getLogger("shipyard.lifecycle")
DEFAULT_ALIAS = "champion"


@dataclass(frozen=True)
class RolloutStatus:
    rollout: RolloutRecord
    events: list[RolloutEvent]

    @property
    def state(self) -> machine.RolloutState:
        return machine.RolloutState.from_dict(dict(self.rollout.state))


class RolloutService:
    def __init__(
        self,
        registry: RegistryService,
        deployments: DeploymentService,
        store: DeploymentStore,
        reader: LogReader,
        *,
        governance: GovernanceService | None = None,
    ) -> None:
        self.governance = governance
        self.registry = registry
        self.deployments = deployments
        self.store = store
        self.reader = reader

    # -- starting -----------------------------------------------------------------------------------

    def start(
        self,
        endpoint: str,
        *,
        to_version: int,
        strategy: str = "canary",
        steps: tuple[float, ...] | None = None,
        interval: float = machine.DEFAULT_INTERVAL_S,
        gates: GateConfig | None = None,
        failure_limit: int = 0,
        keep_warm: float = machine.DEFAULT_KEEP_WARM_S,
        alias: str = DEFAULT_ALIAS,
        actor: str | None = None,
    ) -> RolloutRecord:
        """Start moving ``endpoint`` to ``to_version`` of its model by ``strategy``."""
        stored = self.store.find(endpoint)
        if stored is None:  # implicit deployment: the model of that name, served by alias
            primary = f"{endpoint}@{alias}"
            restore = DeploymentSpec.single(primary)
        else:
            restore = stored.spec
            primary = max(stored.spec.routes, key=lambda r: r.weight).target
        ref = parse_ref(primary)
        stable = self.registry.resolve(ref)
        candidate = self.registry.get_version(ref.name, to_version)
        move_alias = primary if ref.alias is not None and ref.alias != "latest" else None
        if move_alias is not None:
            final = restore.to_dict()
        else:
            final = {
                **restore.to_dict(),
                "routes": [
                    {
                        "target": candidate.ref if r.target == primary else r.target,
                        "weight": r.weight,
                    }
                    for r in restore.routes
                ],
            }
        state, spec = machine.plan(
            deployment=endpoint,
            strategy=strategy,
            stable=stable.ref,
            candidate=candidate.ref,
            restore=restore.to_dict(),
            final=final,
            alias=move_alias,
            steps=steps,
            interval=interval,
            gates=(gates or GateConfig()).to_dict(),
            failure_limit=failure_limit,
            keep_warm=keep_warm,
            now=time.time(),
        )
        event = {
            "strategy": strategy,
            "from": stable.ref,
            "to": candidate.ref,
            "weight": state.weight,
            "interval": interval,
        }
        if move_alias is not None:
            verdict = self._approval(ref.name, ref.alias or "", candidate.version)
            if verdict == "rejected":
                raise Conflict(f"{candidate.ref} was rejected; it cannot become {move_alias}")
            if (
                verdict == "pending"
            ):  # a protected alias: nothing moves until the version is approved
                return self.store.create_rollout(
                    endpoint,
                    "pending_approval",
                    {**state.to_dict(), "pending_spec": spec},
                    actor=actor or self.registry.actor,
                    event={**event, "waiting_for": f"approval of {candidate.ref}"},
                )
        return self.store.create_rollout(
            endpoint,
            "running",
            state.to_dict(),
            actor=actor or self.registry.actor,
            spec=DeploymentSpec.from_dict(spec),
            event=event,
        )

    def _approval(self, name: str, alias: str, version: int) -> str:
        """``unprotected``, ``approved``, ``pending`` or ``rejected`` for moving ``name@alias``."""
        if self.governance is None or self.governance.protected(name, alias) is None:
            return "unprotected"
        try:
            self.governance.check_can_point(name, alias, version)
            return "approved"
        except Conflict:
            return (
                "rejected"
                if self.governance.status(name, version).status == "rejected"
                else "pending"
            )

    def _tick_pending(self, record: RolloutRecord, now: float, actor: str) -> RolloutRecord:
        state = dict(record.state)
        name, alias = str(state["alias"]).split("@", 1)
        version = int(str(state["candidate"]).rsplit("/", 1)[1])
        verdict = self._approval(name, alias, version)
        if verdict == "pending":
            return record
        spec = state.pop("pending_spec")
        if verdict == "rejected":
            return self.store.update_rollout(
                record.id,
                "rejected",
                state,
                actor=actor,
                kind="rejected",
                details={"reason": f"{state['candidate']} was rejected"},
                expected_status="pending_approval",
            )
        return self.store.update_rollout(
            record.id,
            "running",
            {**state, "step_started_at": now},
            actor=actor,
            kind="approved",
            details={"approved": state["candidate"]},
            spec=DeploymentSpec.from_dict(spec),
            expected_status="pending_approval",
        )

    # -- running --------------------------------------------------------------------------------------

    def analyze(self, record: RolloutRecord, state: machine.RolloutState, now: float) -> Analysis:
        evidence = gather(
            self.reader,
            record.deployment,
            dt.datetime.fromtimestamp(state.step_started_at, dt.UTC),
            dt.datetime.fromtimestamp(now, dt.UTC),
            stable_version=int(state.stable.rsplit("/", 1)[1]),
            candidate_version=int(state.candidate.rsplit("/", 1)[1]),
            candidate_route="shadow" if state.strategy == "shadow" else "primary",
            baseline_since=record.created_at,
        )
        return analyze(
            evidence["candidate"],
            evidence["stable"],
            GateConfig.from_dict(state.gates),
            prediction_psi=evidence["prediction_psi"],
        )

    def tick(
        self, record: RolloutRecord, now: float | None = None, *, actor: str = "controller"
    ) -> RolloutRecord:
        """Take the next decision of one rollout if it is due (called by the controller)."""
        now = time.time() if now is None else now
        if record.status == "pending_approval":
            return self._tick_pending(record, now, actor)
        if record.status not in ("running", "promoting"):
            return record
        state = machine.RolloutState.from_dict(dict(record.state))
        if state.phase != "promoting" and not machine.due(state, now):
            return record
        analysis = self.analyze(record, state, now) if machine.needs_analysis(state) else None
        return self._apply(record, machine.advance(state, now, analysis), actor)

    def _apply(
        self, record: RolloutRecord, decision: machine.Decision, actor: str
    ) -> RolloutRecord:
        if decision.move_alias is not None:
            name, alias, version = decision.move_alias
            current = (
                self.registry.get_alias(name, alias).version
                if self._has_alias(name, alias)
                else None
            )
            if current != version:  # idempotent: a controller that died here redoes it safely
                self.registry.set_alias(  # checked like any move: a rollback too
                    name,
                    alias,
                    version,
                    actor=actor,
                    reason=f"rollout {record.id} moved {name}@{alias} to {version}",
                )
        spec = DeploymentSpec.from_dict(decision.spec) if decision.spec is not None else None
        updated = self.store.update_rollout(
            record.id,
            decision.status,
            decision.state.to_dict(),
            actor=actor,
            kind=decision.kind,
            details=_json(decision.details),
            spec=spec,
            expected_status=record.status,
        )
        log.info(
            "rollout %s of %s: %s -> %s (%s)",
            record.id,
            record.deployment,
            decision.kind,
            decision.status,
            decision.details.get("reason") or decision.details.get("next_weight", ""),
        )
        return updated

    def _has_alias(self, name: str, alias: str) -> bool:
        try:
            self.registry.get_alias(name, alias)
            return True
        except NotFound:
            return False

    # -- manual control -----------------------------------------------------------------------------

    def active(self, endpoint: str) -> RolloutRecord:
        found = self.store.rollouts(deployment=endpoint, active=True, limit=1)
        if not found:
            raise NotFound(f"{endpoint!r} has no active rollout")
        return found[0]

    def pause(self, endpoint: str, *, actor: str | None = None) -> RolloutRecord:
        record = self.active(endpoint)
        decision = machine.pause(machine.RolloutState.from_dict(dict(record.state)))
        return self._apply(record, decision, actor or self.registry.actor)

    def resume(self, endpoint: str, *, actor: str | None = None) -> RolloutRecord:
        record = self.active(endpoint)
        decision = machine.resume(machine.RolloutState.from_dict(dict(record.state)), time.time())
        return self._apply(record, decision, actor or self.registry.actor)

    def promote(self, endpoint: str, *, actor: str | None = None) -> RolloutRecord:
        record = self.active(endpoint)
        decision = machine.promote_now(
            machine.RolloutState.from_dict(dict(record.state)), time.time()
        )
        return self._apply(record, decision, actor or self.registry.actor)

    def abort(
        self, endpoint: str, *, actor: str | None = None, reason: str = "aborted by hand"
    ) -> RolloutRecord:
        record = self.active(endpoint)
        state = machine.RolloutState.from_dict(dict(record.state))
        decision = machine.rollback(state, time.time(), reason, status="aborted")
        return self._apply(record, decision, actor or self.registry.actor)

    def rollback(
        self, endpoint: str, *, actor: str | None = None, alias: str = DEFAULT_ALIAS
    ) -> dict[str, Any]:
        """Abort an active rollout, or undo the last promotion (the alias's previous target)."""
        who = actor or self.registry.actor
        try:
            record = self.abort(endpoint, actor=who, reason="rolled back by hand")
            return {"kind": "abort", "rollout": record.id}
        except NotFound:
            pass
        stored = self.store.find(endpoint)
        primary = (
            f"{endpoint}@{alias}"
            if stored is None
            else max(stored.spec.routes, key=lambda r: r.weight).target
        )
        ref = parse_ref(primary)
        if ref.alias is None or ref.alias == "latest":
            history = self.deployments.history(endpoint)
            if len(history) < 2:
                raise Conflict(f"{endpoint!r} has no earlier deployment revision to go back to")
            previous = history[-2].spec
            self.deployments.set(endpoint, previous, actor=who, reason="rollback")
            return {"kind": "deployment", "revision": history[-2].revision}
        moved = self.registry.rollback_alias(ref.name, ref.alias, actor=who)
        return {
            "kind": "alias",
            "alias": primary,
            "from": moved.from_version,
            "to": moved.to_version,
        }

    def status(self, endpoint: str) -> RolloutStatus:
        found = self.store.rollouts(deployment=endpoint, limit=1)
        if not found:
            raise NotFound(f"{endpoint!r} has no rollouts")
        return RolloutStatus(found[0], self.store.events(found[0].id))

    def history(self, endpoint: str, limit: int = 20) -> list[RolloutRecord]:
        return self.store.rollouts(deployment=endpoint, limit=limit)


def _json(details: dict[str, Any]) -> dict[str, Any]:
    import json

    return dict(json.loads(json.dumps(details, default=str, allow_nan=False)))


def parse_gate(items: list[str] | None) -> GateConfig:
    """``--gate max_p99_ms=200 --gate min_success_rate=0.995``."""
    values: dict[str, Any] = {}
    fields = GateConfig.__dataclass_fields__
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or key not in fields:
            raise InvalidArgument(
                f"--gate {item!r}: expected NAME=VALUE with NAME one of {', '.join(fields)}"
            )
        try:
            number = float(raw)
            if fields[key].type in ("int", int):
                if not number.is_integer():
                    raise ValueError(raw)
                values[key] = int(number)
            else:
                values[key] = number
        except ValueError as exc:
            raise InvalidArgument(f"--gate {item!r}: {raw!r} is not a number") from exc
    return GateConfig(**values)
