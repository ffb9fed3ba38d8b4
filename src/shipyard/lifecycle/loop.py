"""The closed loop: policies evaluated every tick; their actions carried out and audited.

For each policy of the project the loop gathers signals (the monitor's stored metric series, labels
arrived since the policy last fired, manual requests), asks the pure ``policies.evaluate`` what to do,
records why in the audit log (``policy.fire`` with the trigger and metric values), and runs the
actions in order on a worker thread: ``retrain`` registers a challenger, ``evaluate`` compares it with
the champion on the held-out labels (a loser is archived with the reason and the chain stops),
``rollout`` starts the configured progressive rollout, ``rollback`` undoes the last promotion,
``alert`` raises an alert. A policy's cooldown counts from its last ``policy.fire`` event, so it
survives a controller restart.

A chain runs in the context of the tick that fired it (``contextvars.copy_context``), so its writes
carry that tick's lease fence: if the controller loses its lease while a retraining job runs, the
chain's later writes are refused rather than done twice by two controllers.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from shipyard.core.errors import ShipyardError, StaleLease
from shipyard.lifecycle.evaluation import Criteria, Evaluation, evaluate
from shipyard.lifecycle.policies import Action, Policy, PolicyState, Signals
from shipyard.lifecycle.policies import evaluate as decide
from shipyard.lifecycle.project import Project, RolloutConfig
from shipyard.lifecycle.retraining import Retrainer, RetrainResult
from shipyard.lifecycle.service import RolloutService, parse_gate
from shipyard.monitoring.alerts import AlertManager
from shipyard.monitoring.notifiers.base import Notification
from shipyard.registry.entities import ModelVersion
from shipyard.registry.service import RegistryService
from shipyard.registry.store import MonitorStore
from shipyard.stats.attribution import DRIFT_IMPORTANCE

log = logging.getLogger("shipyard.lifecycle")
ACTOR = "controller"


@dataclass
class ChainOutcome:
    policy: str
    endpoint: str
    actions: list[str]
    retrain: RetrainResult | None = None
    evaluation: Evaluation | None = None
    rollout_id: int | None = None
    stopped: str | None = None
    notes: list[str] = field(default_factory=list)


class ClosedLoop:
    def __init__(
        self,
        project: Project,
        *,
        registry: RegistryService,
        rollouts: RolloutService,
        retrainer: Retrainer,
        monitor_store: MonitorStore,
        alerts: AlertManager,
    ) -> None:
        self.project = project
        self.registry = registry
        self.rollouts = rollouts
        self.retrainer = retrainer
        self.monitor_store = monitor_store
        self.alerts = alerts
        self.policies = project.policy_objects()
        self._checked: dict[str, dt.datetime] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shipyard-loop")
        self._running: dict[str, Future[ChainOutcome]] = {}
        self._lock = threading.Lock()
        self._manual_seen = max(
            (e.id for e in registry.audit(action="retrain.request", limit=1)), default=0
        )
        self.outcomes: list[ChainOutcome] = []

    # -- signals ------------------------------------------------------------------------------------

    def _state(self, policy: Policy) -> PolicyState:
        fired = [
            e
            for e in self.registry.audit(action="policy.fire", target=policy.endpoint, limit=50)
            if e.details.get("policy") == policy.name
        ]
        return PolicyState(
            last_fired_at=fired[0].at if fired else None,
            last_checked_at=self._checked.get(policy.name),
        )

    def _signals(
        self, policy: Policy, state: PolicyState, now: dt.datetime, manual: set[str]
    ) -> Signals:
        since = now - dt.timedelta(days=7)
        series: dict[str, list[float]] = {}
        trig = policy.trigger
        metrics = ["drift.dataset", trig.metric]
        if trig.min_importance_share is not None:
            metrics.append(DRIFT_IMPORTANCE)
        for metric in metrics:
            points = self.monitor_store.points(
                policy.endpoint, metric=metric, since=since, limit=500
            )
            series[metric] = [p.value for p in points]
        new_labels = 0
        if trig.kind == "labels":
            labelled = self.retrainer.reader.with_labels(
                policy.endpoint, state.last_fired_at or since, now
            )
            if not labelled.empty:
                new_labels = int(labelled["label"].notna().sum())
        return Signals(
            now=now, series=series, new_labels=new_labels, manual=policy.endpoint in manual
        )

    def _manual_requests(self) -> set[str]:
        events = [
            e
            for e in self.registry.audit(action="retrain.request", limit=100)
            if e.id > self._manual_seen
        ]
        if events:
            self._manual_seen = max(e.id for e in events)
        return {e.target for e in events}

    # -- ticking ------------------------------------------------------------------------------------

    def tick(self, now: dt.datetime | None = None) -> list[Action]:
        now = now or dt.datetime.now(dt.UTC)
        manual = self._manual_requests()
        fired: list[Action] = []
        for policy in self.policies:
            with self._lock:
                busy = policy.name in self._running and not self._running[policy.name].done()
            if busy:
                continue
            try:
                state = self._state(policy)
                actions = decide(policy, state, self._signals(policy, state, now, manual))
            except ShipyardError as exc:
                log.warning("policy %s: cannot evaluate: %s", policy.name, exc)
                continue
            finally:
                self._checked[policy.name] = now
            if not actions:
                continue
            why = actions[0].why
            self.registry.record(
                "policy.fire",
                policy.endpoint,
                {"policy": policy.name, "why": why, "actions": [a.kind for a in actions]},
                actor=ACTOR,
            )
            log.info(
                "policy %s fired (%s): %s",
                policy.name,
                why.get("trigger"),
                [a.kind for a in actions],
            )
            with self._lock:
                self._running[policy.name] = self._pool.submit(
                    contextvars.copy_context().run, self.execute, policy, actions
                )
            fired.extend(actions)
        return fired

    def wait(self, timeout: float | None = None) -> None:
        """Wait for running action chains (tests, the demo)."""
        with self._lock:
            futures = list(self._running.values())
        for f in futures:
            f.result(timeout=timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- actions ------------------------------------------------------------------------------------

    def _champion(self, endpoint: str) -> ModelVersion:
        return self.registry.resolve(f"{endpoint}@champion")

    def execute(self, policy: Policy, actions: list[Action]) -> ChainOutcome:
        endpoint = policy.endpoint
        out = ChainOutcome(policy.name, endpoint, [a.kind for a in actions])
        challenger: ModelVersion | None = None
        try:
            for action in actions:
                if action.kind == "alert":
                    self._alert(policy, action)
                elif action.kind == "retrain":
                    out.retrain = self._retrain(policy, action)
                    if not out.retrain.ok:
                        out.stopped = f"retraining failed: {out.retrain.error}"
                        self._alert(policy, action, message=out.stopped, severity="critical")
                        break
                    challenger = out.retrain.version
                elif action.kind == "evaluate":
                    if challenger is None or out.retrain is None or out.retrain.holdout is None:
                        out.notes.append("evaluate: no fresh challenger to evaluate")
                        continue
                    out.evaluation = self._evaluate(endpoint, challenger, out.retrain)
                    if out.evaluation.verdict != "challenger":
                        out.stopped = "challenger lost: " + "; ".join(out.evaluation.reasons)
                        break
                elif action.kind == "rollout":
                    if challenger is None:
                        out.notes.append("rollout: no challenger to roll out")
                        continue
                    out.rollout_id = self._rollout(endpoint, challenger).id
                elif action.kind == "rollback":
                    self.rollouts.rollback(endpoint, actor=ACTOR)
                elif action.kind == "require_approval":
                    out.notes.append(
                        "require_approval: the rollout waits for approval of a protected alias"
                    )
        except StaleLease as exc:  # another controller owns the registry now: record nothing
            out.stopped = str(exc)
            log.warning("policy %s: action chain stopped: %s", policy.name, exc)
        except Exception as exc:  # recorded and alerted; the loop goes on
            out.stopped = f"{type(exc).__name__}: {exc}"
            log.exception("policy %s: action chain failed", policy.name)
            self.registry.record(
                "policy.failed",
                endpoint,
                {"policy": policy.name, "error": out.stopped},
                actor=ACTOR,
            )
        self.outcomes.append(out)
        return out

    def _alert(
        self,
        policy: Policy,
        action: Action,
        *,
        message: str | None = None,
        severity: str = "warning",
    ) -> None:
        alert, opened = self.monitor_store.raise_alert(
            endpoint=policy.endpoint,
            monitor="policy",
            rule=f"policy.{policy.name}",
            severity=severity,
            message=message or f"policy {policy.name} fired: {action.why}",
            value=None,
            threshold=None,
        )
        if opened:
            self.alerts.deliver(Notification(alert, "opened"))

    def _retrain(self, policy: Policy, action: Action) -> RetrainResult:
        config = self.project.retraining.get(policy.endpoint)
        if config is None:
            return RetrainResult(
                ok=False, error=f"no retraining job is configured for {policy.endpoint!r}"
            )
        now = dt.datetime.now(dt.UTC)
        since = now - dt.timedelta(seconds=config.window)
        if config.after_drift and action.why.get("trigger") == "drift":
            since = max(since, self._drift_onset(policy.endpoint, now) or since)
        return self.retrainer.run(
            policy.endpoint,
            config.job(),
            parent=self._champion(policy.endpoint),
            since=since,
            until=now,
            trigger={"policy": policy.name, **action.why},
            actor=ACTOR,
        )

    def _drift_onset(self, endpoint: str, now: dt.datetime) -> dt.datetime | None:
        """End of the first monitor window of the current drift episode (the trailing run of
        drifted windows), or None when the last window did not drift."""
        points = self.monitor_store.points(
            endpoint, metric="drift.dataset", since=now - dt.timedelta(days=7), limit=500
        )
        onset = None
        for point in reversed(points):
            if point.value < 1:
                break
            onset = point.window_end
        return onset

    def _evaluate(
        self, endpoint: str, challenger: ModelVersion, retrain: RetrainResult
    ) -> Evaluation:
        champion = self._champion(endpoint)
        config = self.project.evaluation.get(endpoint)
        criteria = config.criteria() if config is not None else Criteria()
        assert retrain.holdout is not None
        result = evaluate(
            self.registry.load_version(champion),
            self.registry.load_version(challenger),
            retrain.holdout,
            criteria,
            champion_ref=champion.ref,
            challenger_ref=challenger.ref,
            sizes=(champion.size_bytes, challenger.size_bytes),
        )
        details: dict[str, Any] = result.to_dict()
        self.registry.record("evaluation", challenger.ref, details, actor=ACTOR)
        m = criteria.metric
        self.registry.set_tag(
            challenger.name,
            "evaluation.verdict",
            result.verdict,
            version=challenger.version,
            actor=ACTOR,
        )
        self.registry.set_tag(
            challenger.name,
            f"evaluation.{m}",
            f"{result.challenger.metrics.get(m, float('nan')):.4f} vs "
            f"{result.champion.metrics.get(m, float('nan')):.4f} ({champion.ref})",
            version=challenger.version,
            actor=ACTOR,
        )
        if result.verdict != "challenger":
            self.registry.set_tag(
                challenger.name, "status", "archived", version=challenger.version, actor=ACTOR
            )
            self.registry.set_tag(
                challenger.name,
                "archived.reason",
                "; ".join(result.reasons)[:500],
                version=challenger.version,
                actor=ACTOR,
            )
        return result

    def _rollout(self, endpoint: str, challenger: ModelVersion) -> Any:
        config = self.project.rollout.get(endpoint) or RolloutConfig()
        return self.rollouts.start(
            endpoint,
            to_version=challenger.version,
            strategy=config.strategy,
            steps=tuple(config.steps) if config.steps else None,
            interval=config.interval,
            gates=parse_gate([f"{k}={v}" for k, v in config.gates.items()]),
            failure_limit=config.failure_limit,
            actor=ACTOR,
        )
