"""Policies: pure functions from (state, signals) to actions. The controller carries them out.

A policy has one trigger and a list of actions:

- ``drift``: the monitor's dataset-drift verdict held for ``windows`` consecutive monitor runs
  (with ``min_importance_share``, only runs whose drifted columns carry at least that share of the
  model's global importance count: drift that matters to the model);
- ``performance``: a metric (realised ``performance.accuracy`` or estimated ``estimated.accuracy``)
  fell below ``threshold``, or below the reference value by more than ``margin``;
- ``schedule``: a cron expression (``0 3 * * 1``) came due;
- ``labels``: at least ``min_labels`` new labels arrived since the policy last fired;
- ``manual``: someone asked (``shipyard retrain ENDPOINT``).

Actions: ``alert``, ``retrain``, ``evaluate``, ``rollout``, ``rollback``, ``require_approval``. A
``cooldown`` (default 1 h) keeps one drift episode from starting ten retrainings: a policy that fired
does not fire again before the cooldown ends, whatever its trigger says.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from shipyard.core.errors import InvalidArgument
from shipyard.stats.attribution import DRIFT_IMPORTANCE

TriggerKind = Literal["drift", "performance", "schedule", "labels", "manual"]
ACTIONS = ("alert", "retrain", "evaluate", "rollout", "rollback", "require_approval")
DEFAULT_COOLDOWN_S = 3600.0


@dataclass(frozen=True)
class Trigger:
    kind: TriggerKind
    windows: int = 3
    """drift: consecutive drifted monitor runs needed."""
    metric: str = "performance.accuracy"
    """performance: the metric watched (``estimated.accuracy`` works without labels)."""
    threshold: float | None = None
    reference: float | None = None
    margin: float | None = None
    """performance: fire when the metric < ``threshold`` or < ``reference - margin``."""
    cron: str | None = None
    min_labels: int = 1000
    min_importance_share: float | None = None
    """drift: the drifted columns must carry at least this share (0..1) of global importance."""

    def __post_init__(self) -> None:
        if self.kind not in ("drift", "performance", "schedule", "labels", "manual"):
            raise InvalidArgument(f"unknown trigger {self.kind!r}")
        if self.kind == "schedule":
            from croniter import croniter

            if not self.cron or not croniter.is_valid(self.cron):
                raise InvalidArgument(
                    f"schedule trigger needs a valid cron expression, got {self.cron!r}"
                )
        if (
            self.kind == "performance"
            and self.threshold is None
            and (self.reference is None or self.margin is None)
        ):
            raise InvalidArgument(
                "performance trigger needs 'threshold', or 'reference' and 'margin'"
            )
        if self.min_importance_share is not None and not 0 <= self.min_importance_share <= 1:
            raise InvalidArgument(
                f"'min_importance_share' must be within [0, 1], got {self.min_importance_share}"
            )
        if self.windows < 1 or self.min_labels < 1:
            raise InvalidArgument("'windows' and 'min_labels' must be >= 1")


@dataclass(frozen=True)
class Policy:
    name: str
    endpoint: str
    trigger: Trigger
    actions: tuple[str, ...] = ("alert",)
    cooldown: float = DEFAULT_COOLDOWN_S

    def __post_init__(self) -> None:
        unknown = [a for a in self.actions if a not in ACTIONS]
        if unknown:
            raise InvalidArgument(
                f"policy {self.name!r}: unknown action {unknown[0]!r}; one of {', '.join(ACTIONS)}"
            )
        if not self.actions:
            raise InvalidArgument(f"policy {self.name!r} has no actions")


@dataclass(frozen=True)
class Signals:
    """What the controller observed for one endpoint."""

    now: dt.datetime
    series: Mapping[str, Sequence[float]] = field(default_factory=dict)
    """Monitor metric values by name, oldest first (e.g. ``drift.dataset``: [0, 1, 1])."""
    new_labels: int = 0
    """Labels arrived since the policy last fired."""
    manual: bool = False


@dataclass(frozen=True)
class PolicyState:
    last_fired_at: dt.datetime | None = None
    last_checked_at: dt.datetime | None = None


@dataclass(frozen=True)
class Action:
    kind: str
    policy: str
    endpoint: str
    why: dict[str, Any]
    """The trigger and the metric values that made it fire (kept in the audit log)."""


def _fired(trigger: Trigger, state: PolicyState, signals: Signals) -> dict[str, Any] | None:
    if trigger.kind == "manual":
        return {"trigger": "manual"} if signals.manual else None
    if trigger.kind == "drift":
        recent = list(signals.series.get("drift.dataset", ()))[-trigger.windows :]
        if len(recent) != trigger.windows or not all(v >= 1 for v in recent):
            return None
        why: dict[str, Any] = {
            "trigger": "drift",
            "windows": trigger.windows,
            "drift.dataset": recent,
        }
        if trigger.min_importance_share is not None:
            shares = list(signals.series.get(DRIFT_IMPORTANCE, ()))[-trigger.windows :]
            # a version without recorded importance never satisfies the requirement
            if len(shares) != trigger.windows or min(shares) < trigger.min_importance_share:
                return None
            why[DRIFT_IMPORTANCE] = shares
        return why
    if trigger.kind == "performance":
        values = signals.series.get(trigger.metric, ())
        if not values:
            return None
        value = values[-1]
        limits = []
        if trigger.threshold is not None:
            limits.append(trigger.threshold)
        if trigger.reference is not None and trigger.margin is not None:
            limits.append(trigger.reference - trigger.margin)
        limit = max(limits)
        if value < limit:
            return {
                "trigger": "performance",
                "metric": trigger.metric,
                "value": value,
                "limit": limit,
            }
        return None
    if trigger.kind == "labels":
        if signals.new_labels >= trigger.min_labels:
            return {
                "trigger": "labels",
                "new_labels": signals.new_labels,
                "min_labels": trigger.min_labels,
            }
        return None
    from croniter import croniter  # schedule

    since = state.last_checked_at or state.last_fired_at
    if since is None:
        return None  # the first check only starts the clock
    due = croniter(trigger.cron, since).get_next(dt.datetime)
    if due <= signals.now:
        return {"trigger": "schedule", "cron": trigger.cron, "due": due.isoformat()}
    return None


def evaluate(policy: Policy, state: PolicyState, signals: Signals) -> list[Action]:
    """The actions ``policy`` asks for now (none while cooling down, except a manual request)."""
    why = _fired(policy.trigger, state, signals)
    if why is None:
        return []
    if (
        policy.trigger.kind != "manual"
        and state.last_fired_at is not None
        and (signals.now - state.last_fired_at).total_seconds() < policy.cooldown
    ):
        return []
    return [Action(kind, policy.name, policy.endpoint, why) for kind in policy.actions]
