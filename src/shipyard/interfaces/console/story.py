"""The story of an endpoint: why this version serves, and what happened to the last one.

Built from the audit log alone (the endpoint's events and its models' events), oldest first. Each
automated decision carries its evidence: the drift that fired a policy, the training job's window and
log tail, the evaluation's numbers, approvals, every gate's value against its limit, and the
promotion or rollback; with a link to the page that shows more. Repeated holds of one rollout are
folded into one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from shipyard.app import Services
from shipyard.core.errors import InvalidArgument, NotFound
from shipyard.interfaces.http.sessions import CONSOLE
from shipyard.registry.entities import AuditEvent

MAX_EVENTS = 2000
QUIET = (
    "deployment.set",
    "tag.set",
    "lease.",
    "model.describe",
    "version.trust",
    "alert.resolve",
)
"""Bookkeeping that the story leaves out unless asked for (``?all=1``)."""


@dataclass
class Chapter:
    """One line of the story."""

    event: AuditEvent
    stage: str
    """drift, policy, retrain, version, evaluation, approval, rollout, promotion, rollback, alert,
    event: what kind of step it was (the page colours by it)."""
    title: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    gates: list[Mapping[str, Any]] = field(default_factory=list)
    log: str = ""
    links: list[tuple[str, str]] = field(default_factory=list)
    repeats: int = 1


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    return "—" if value is None else str(value)


def _model_of(target: str) -> tuple[str, str | None]:
    """``churn/2`` -> (churn, 2); ``churn@champion`` -> (churn, None)."""
    if "/" in target:
        name, _, version = target.partition("/")
        return name, version
    return target.partition("@")[0], None


def chapter(e: AuditEvent, endpoint: str) -> Chapter:
    d = e.details
    a = e.action
    monitoring = (f"monitoring of {endpoint}", f"{CONSOLE}/endpoints/{endpoint}/monitoring")
    rollout_link = ("rollout", f"{CONSOLE}/rollouts/{endpoint}")
    name, version = _model_of(e.target)
    if a == "alert.open":
        rule = str(d.get("rule", ""))
        stage = "drift" if rule.startswith(("drift.", "prediction_drift.")) else "alert"
        title = f"{'Drift' if stage == 'drift' else 'Alert'}: {rule} = {_fmt(d.get('value'))}"
        return Chapter(
            e,
            stage,
            title,
            [("threshold", _fmt(d.get("threshold"))), ("severity", _fmt(d.get("severity")))],
            links=[monitoring, ("alerts", f"{CONSOLE}/alerts?endpoint={endpoint}")],
        )
    if a == "alert.resolve":
        return Chapter(e, "alert", f"Resolved: {d.get('rule', '')}", links=[monitoring])
    if a == "policy.fire":
        why = d.get("why") or {}
        facts = [(str(k), _fmt(v)) for k, v in why.items()] if isinstance(why, dict) else []
        facts.append(("actions", _fmt(d.get("actions"))))
        return Chapter(
            e, "policy", f"Policy {d.get('policy', '')} fired", facts, links=[monitoring]
        )
    if a in ("policy.failed", "retrain.failed"):
        return Chapter(
            e,
            "alert",
            f"{'Retraining' if a == 'retrain.failed' else 'Policy'} failed: {d.get('error', '')}",
            log=str(d.get("stderr_tail", "")),
        )
    if a == "retrain.request":
        return Chapter(e, "retrain", "Retraining requested", [(k, _fmt(v)) for k, v in d.items()])
    if a == "retrain.done":
        new = str(d.get("version", ""))
        return Chapter(
            e,
            "retrain",
            f"Retrained {new} from {d.get('parent', '')}",
            [
                ("training rows", _fmt(d.get("training_rows"))),
                ("data window", _fmt(d.get("window"))),
            ],
            log=str(d.get("log_tail", "")),
            links=[("version", f"{CONSOLE}/models/{new.replace('/', '/versions/', 1)}")],
        )
    if a == "version.create":
        return Chapter(
            e,
            "version",
            f"Version {e.target} registered ({d.get('flavor', '')})",
            links=[("version", f"{CONSOLE}/models/{name}/versions/{version}")],
        )
    if a == "evaluation":
        champ, chall = d.get("champion") or {}, d.get("challenger") or {}
        metric = str(d.get("metric", ""))
        facts = [
            (f"{metric} of {chall.get('ref', e.target)}", _interval(chall, metric)),
            (f"{metric} of {champ.get('ref', 'champion')}", _interval(champ, metric)),
            (
                "improvement",
                f"{_fmt(d.get('improvement'))} (95 % interval "
                f"{_fmt(d.get('improvement_low'))} to {_fmt(d.get('improvement_high'))})",
            ),
            ("holdout rows", _fmt(d.get("rows"))),
        ]
        if d.get("reasons"):
            facts.append(("reasons", _fmt(d.get("reasons"))))
        champ_v = str(champ.get("ref", "")).rpartition("/")[2]
        return Chapter(
            e,
            "evaluation",
            f"Evaluation of {e.target}: the {d.get('verdict', '?')} wins",
            facts,
            links=[("compare", f"{CONSOLE}/models/{name}/compare?a={champ_v}&b={version}")],
        )
    if a.startswith("approval."):
        verb = a.split(".", 1)[1]
        return Chapter(
            e,
            "approval",
            f"{e.target}: {verb} by {e.actor}",
            [(k, _fmt(v)) for k, v in d.items()],
            links=[("approvals", f"{CONSOLE}/approvals")],
        )
    if a.startswith("rollout."):
        kind = a.split(".", 1)[1]
        found = d.get("analysis")
        analysis: Mapping[str, Any] = found if isinstance(found, dict) else {}
        stage = {"promote": "promotion", "rollback": "rollback"}.get(kind, "rollout")
        if kind == "start":
            title = f"Rollout {d.get('rollout')} started: {d.get('from')} → {d.get('to')} ({d.get('strategy')})"
        else:
            title = f"Rollout {d.get('rollout')}: {kind} → {d.get('status', '')}"
        facts = []
        if analysis:
            facts.append(("verdict", f"{analysis.get('verdict')}: {analysis.get('reason', '')}"))
        if d.get("reason"):
            facts.append(("reason", _fmt(d.get("reason"))))
        if d.get("weight") is not None:
            facts.append(("candidate weight", f"{_fmt(d.get('weight'))} %"))
        return Chapter(
            e, stage, title, facts, gates=list(analysis.get("gates") or []), links=[rollout_link]
        )
    if a == "alias.set":
        reason = str(d.get("reason", ""))
        stage = "rollback" if "rollback" in reason else "promotion"
        return Chapter(
            e,
            stage,
            f"{e.target} moved {_fmt(d.get('from'))} → {_fmt(d.get('to'))}",
            [("reason", reason)] if reason else [],
            links=[("model", f"{CONSOLE}/models/{name}")],
        )
    facts = [(str(k), _fmt(v)) for k, v in d.items()][:8]
    return Chapter(e, "event", f"{a} {e.target}", facts)


def _interval(side: Mapping[str, Any], metric: str) -> str:
    value = (side.get("metrics") or {}).get(metric)
    if side.get("low") is not None and side.get("high") is not None:
        return f"{_fmt(value)} (95 % interval {_fmt(side['low'])} to {_fmt(side['high'])})"
    return _fmt(value)


def events(s: Services, endpoint: str) -> list[AuditEvent]:
    """The endpoint's events and those of the models it routes to, oldest first."""
    names = {endpoint}
    deployment = s.deployments.store.find(endpoint)
    if deployment is not None:
        names |= {ref.name for ref in (r.ref for r in deployment.spec.routes)}
    found: dict[int, AuditEvent] = {}
    for name in sorted(names):
        for e in s.registry.audit(target=name, limit=MAX_EVENTS):
            found[e.id] = e
    return [found[i] for i in sorted(found)][-MAX_EVENTS:]


def story(request: Request, s: Services) -> dict[str, Any]:
    endpoint = request.path_params["name"]
    everything = request.query_params.get("all") == "1"
    chapters: list[Chapter] = []
    for e in events(s, endpoint):
        if not everything and any(e.action.startswith(q) for q in QUIET):
            continue
        c = chapter(e, endpoint)
        last = chapters[-1] if chapters else None
        if (  # alerts raised by one monitor run: one line
            last is not None
            and e.action == "alert.open" == last.event.action
            and c.stage == last.stage
            and abs((e.at - last.event.at).total_seconds()) < 2
        ):
            last.title += " · " + c.title.split(": ", 1)[1]
            last.facts = []
            continue
        if (
            last is not None
            and e.action == "rollout.hold"
            and last.event.action == "rollout.hold"
            and last.event.details.get("rollout") == e.details.get("rollout")
        ):
            c.repeats = last.repeats + 1
            chapters[-1] = c
            continue
        chapters.append(c)
    current = None
    try:
        current = s.deployments.resolve(endpoint, f"{endpoint}@champion")
    except (NotFound, InvalidArgument):  # an unknown endpoint still has a (maybe empty) story
        current = None
    serving = []
    if current is not None:
        for route in current.spec.routes:
            try:
                serving.append((route.target, s.registry.resolve(route.target).ref, route.weight))
            except (NotFound, InvalidArgument):
                serving.append((route.target, "not found", route.weight))
    return {"endpoint": endpoint, "chapters": chapters, "all": everything, "serving": serving}
