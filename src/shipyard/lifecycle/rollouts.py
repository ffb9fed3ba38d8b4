"""The rollout state machine: pure decisions from (state, time, analysis), no I/O.

Strategies
- **canary**: the candidate takes ``steps`` of traffic in turn (default 10, 25, 50, 100 %); every
  ``interval`` the window since the step began is analysed: successful → next step (promotion after
  the last), failed → counted against ``failure_limit`` (default 0: the first failure rolls back),
  inconclusive → hold (the window grows); ``max_inconclusive`` holds in a row roll back.
- **bluegreen**: the candidate is loaded and warmed beside the stable version at weight 0 for one
  interval, then all traffic switches at once and one analysis verifies it; the stable version stays
  loaded at weight 0 for ``keep_warm`` seconds after promotion so a rollback is instant.
- **shadow**: the candidate receives a mirror of every request (answers logged, never returned) and
  is analysed on those; ``steps`` successful analyses promote it, a failure discards it.

Promotion moves the alias of an implicit deployment (``churn@champion``) to the candidate, or points
a stored deployment at it. Rollback restores the deployment's routes as they were before the rollout.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, cast

from shipyard.core.durations import duration_seconds
from shipyard.core.errors import Conflict, InvalidArgument
from shipyard.lifecycle.gates import Analysis

Strategy = Literal["canary", "bluegreen", "shadow"]
STRATEGIES = ("canary", "bluegreen", "shadow")
DEFAULT_STEPS = (10.0, 25.0, 50.0, 100.0)
DEFAULT_INTERVAL_S = 60.0
DEFAULT_KEEP_WARM_S = 30.0
DEFAULT_MAX_INCONCLUSIVE = 10


@dataclass(frozen=True)
class RolloutState:
    deployment: str
    strategy: Strategy
    stable: str
    """The version serving before the rollout, pinned (``churn/3``)."""
    candidate: str
    """The version rolled out (``churn/5``)."""
    restore: dict[str, Any]
    """The deployment spec to put back on rollback."""
    final: dict[str, Any]
    """The deployment spec after promotion."""
    alias: str | None = None
    """``name@alias`` moved to the candidate on promotion (implicit deployments)."""
    steps: tuple[float, ...] = DEFAULT_STEPS
    interval: float = DEFAULT_INTERVAL_S
    gates: dict[str, Any] = field(default_factory=dict)
    failure_limit: int = 0
    max_inconclusive: int = DEFAULT_MAX_INCONCLUSIVE
    keep_warm: float = DEFAULT_KEEP_WARM_S
    phase: str = "step"
    step: int = 0
    failures: int = 0
    inconclusive: int = 0
    step_started_at: float = 0.0
    last_analysis_at: float = 0.0
    promoted_at: float | None = None
    paused_from: str | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["steps"] = list(self.steps)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RolloutState:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["steps"] = tuple(known.get("steps", DEFAULT_STEPS))
        return cls(**known)

    @property
    def weight(self) -> float:
        """The candidate's current share of traffic."""
        if self.strategy == "canary":
            return self.steps[min(self.step, len(self.steps) - 1)]
        if self.strategy == "bluegreen":
            return 0.0 if self.phase == "preview" else 100.0
        return 0.0


@dataclass(frozen=True)
class Decision:
    state: RolloutState
    status: str
    """running, promoting, succeeded, rolled_back, aborted, paused."""
    kind: str
    """What happened, for the timeline: step, hold, analysis-failed, promote, rollback, ..."""
    details: dict[str, Any] = field(default_factory=dict)
    spec: dict[str, Any] | None = None
    """New routes for the deployment, when they change."""
    move_alias: tuple[str, str, int] | None = None


def _routes(*pairs: tuple[str, float]) -> list[dict[str, Any]]:
    return [{"target": t, "weight": w} for t, w in pairs]


def spec_for(state: RolloutState) -> dict[str, Any]:
    """The deployment spec for the state's current phase."""
    base = dict(state.restore)
    if state.strategy == "canary":
        w = state.weight
        routes = (
            [(state.stable, 100.0 - w), (state.candidate, w)]
            if w < 100
            else [(state.candidate, 100.0), (state.stable, 0.0)]
        )
        return {**base, "routes": _routes(*routes), "shadows": list(base.get("shadows") or [])}
    if state.strategy == "bluegreen":
        w = state.weight
        return {
            **base,
            "routes": _routes((state.stable, 100.0 - w), (state.candidate, w)),
            "shadows": list(base.get("shadows") or []),
        }
    shadows = [s for s in base.get("shadows") or [] if s.get("target") != state.candidate]
    return {
        **base,
        "routes": _routes((state.stable, 100.0)),
        "shadows": [*shadows, {"target": state.candidate, "percent": 100.0}],
    }


def check_steps(steps: tuple[float, ...] | list[float]) -> None:
    """Canary weights must increase within (0, 100]."""
    if not steps or any(not 0 < s <= 100 for s in steps) or list(steps) != sorted(steps):
        raise InvalidArgument(f"canary steps must increase within (0, 100], got {list(steps)}")


def plan(
    *,
    deployment: str,
    strategy: str,
    stable: str,
    candidate: str,
    restore: dict[str, Any],
    final: dict[str, Any],
    alias: str | None,
    steps: tuple[float, ...] | None,
    interval: float,
    gates: dict[str, Any],
    failure_limit: int,
    keep_warm: float,
    now: float,
) -> tuple[RolloutState, dict[str, Any]]:
    """The initial state and the deployment spec to apply when a rollout starts."""
    if strategy not in STRATEGIES:
        raise InvalidArgument(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    interval = duration_seconds(interval, "interval")
    keep_warm = duration_seconds(keep_warm, "keep_warm", allow_zero=True)
    if failure_limit < 0:
        raise InvalidArgument("failure_limit must be >= 0")
    if stable == candidate:
        raise Conflict(f"{candidate} is already what {deployment!r} serves")
    if strategy == "canary":
        steps = tuple(steps or DEFAULT_STEPS)
        check_steps(steps)
        if steps[-1] != 100:
            steps = (*steps, 100.0)
    else:
        steps = tuple(steps or (1.0,))
    phase = {"canary": "step", "bluegreen": "preview", "shadow": "mirror"}[strategy]
    state = RolloutState(
        deployment=deployment,
        strategy=cast(Strategy, strategy),
        stable=stable,
        candidate=candidate,
        restore=restore,
        final=final,
        alias=alias,
        steps=steps,
        interval=interval,
        gates=gates,
        failure_limit=failure_limit,
        keep_warm=keep_warm,
        phase=phase,
        step_started_at=now,
    )
    return state, spec_for(state)


def due(state: RolloutState, now: float) -> bool:
    """Whether an analysis (or a timed phase change) is due."""
    if state.phase == "standby":
        return state.promoted_at is not None and now >= state.promoted_at + state.keep_warm
    return now >= max(state.step_started_at, state.last_analysis_at) + state.interval


def needs_analysis(state: RolloutState) -> bool:
    return state.phase in ("step", "verify", "mirror")


def advance(state: RolloutState, now: float, analysis: Analysis | None) -> Decision:
    """The next decision once ``due``; ``analysis`` is given when ``needs_analysis``."""
    if state.phase == "promoting":
        return _promote(state, now)
    if state.phase == "standby":
        done = replace(state, phase="done")
        return Decision(
            done,
            "succeeded",
            "standby-released",
            {"released": state.stable},
            spec=dict(state.final),
        )
    if state.strategy == "bluegreen" and state.phase == "preview":
        verify = replace(state, phase="verify", step_started_at=now)
        return Decision(
            verify,
            "running",
            "switch",
            {"to": state.candidate, "weight": 100.0},
            spec=spec_for(verify),
        )
    assert analysis is not None
    state = replace(state, last_analysis_at=now)
    details = {"analysis": analysis.to_dict(), "weight": state.weight, "step": state.step}
    if analysis.verdict == "inconclusive":
        held = replace(state, inconclusive=state.inconclusive + 1)
        if held.inconclusive >= state.max_inconclusive:
            return rollback(
                held, now, f"{held.inconclusive} inconclusive analyses in a row", details
            )
        return Decision(held, "running", "hold", details)
    if analysis.verdict == "failed":
        failed = replace(state, failures=state.failures + 1, inconclusive=0, step_started_at=now)
        if failed.failures > state.failure_limit:
            return rollback(failed, now, analysis.reason, details)
        return Decision(failed, "running", "analysis-failed", details)
    fine = replace(state, inconclusive=0)
    if state.strategy == "canary" and state.step + 1 < len(state.steps):
        nxt = replace(fine, step=state.step + 1, step_started_at=now)
        return Decision(
            nxt, "running", "step", {**details, "next_weight": nxt.weight}, spec=spec_for(nxt)
        )
    if state.strategy == "shadow" and state.step + 1 < len(state.steps):
        nxt = replace(fine, step=state.step + 1, step_started_at=now)
        return Decision(nxt, "running", "analysis-passed", details)
    return _promote(replace(fine, phase="promoting"), now, details)


def _version_of(target: str) -> int:
    return int(target.rsplit("/", 1)[1])


def _promote(state: RolloutState, now: float, details: dict[str, Any] | None = None) -> Decision:
    move = None
    if state.alias is not None:
        name, alias = state.alias.split("@", 1)
        move = (name, alias, _version_of(state.candidate))
    if state.strategy == "bluegreen" and state.keep_warm > 0:
        standby = replace(state, phase="standby", promoted_at=now)
        spec = {
            **state.final,
            "routes": [*state.final["routes"], {"target": state.stable, "weight": 0.0}],
        }
        return Decision(
            standby,
            "running",
            "promote",
            {**(details or {}), "standby": state.stable},
            spec=spec,
            move_alias=move,
        )
    done = replace(state, phase="done", promoted_at=now)
    return Decision(
        done, "succeeded", "promote", details or {}, spec=dict(state.final), move_alias=move
    )


def rollback(
    state: RolloutState,
    now: float,
    reason: str,
    details: dict[str, Any] | None = None,
    *,
    status: str = "rolled_back",
) -> Decision:
    back = replace(state, phase="done", message=reason)
    move = None
    if (
        state.promoted_at is not None and state.alias is not None
    ):  # already promoted: undo the alias
        name, alias = state.alias.split("@", 1)
        move = (name, alias, _version_of(state.stable))
    return Decision(
        back,
        status,
        "rollback",
        {**(details or {}), "reason": reason},
        spec=dict(state.restore),
        move_alias=move,
    )


def pause(state: RolloutState) -> Decision:
    if state.phase in ("done", "paused"):
        raise Conflict(f"the rollout is {state.phase}; only a running rollout can be paused")
    return Decision(replace(state, paused_from=state.phase, phase="paused"), "paused", "pause")


def resume(state: RolloutState, now: float) -> Decision:
    if state.phase != "paused" or state.paused_from is None:
        raise Conflict("the rollout is not paused")
    # a fresh window: traffic seen while paused is not judged against the step's gates
    back = replace(state, phase=state.paused_from, paused_from=None, step_started_at=now)
    return Decision(back, "running", "resume")


def promote_now(state: RolloutState, now: float) -> Decision:
    if state.phase == "done":
        raise Conflict("the rollout is finished")
    return _promote(replace(state, phase="promoting", paused_from=None), now, {"manual": True})
