"""The project file, ``shipyard.yaml``: models, deployments, monitors, retraining, policies, notifiers.

Validated with pydantic; an error names the field and the line of the file it is on. ``shipyard
apply`` reconciles the registry with the deployments and model settings it declares; the controller
reads its monitors, retraining jobs and policies (``--project`` / ``SHIPYARD_PROJECT``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shipyard.core.durations import Seconds
from shipyard.core.errors import InvalidArgument, NotFound
from shipyard.lifecycle.evaluation import Criteria
from shipyard.lifecycle.gates import GateConfig
from shipyard.lifecycle.policies import Policy, Trigger
from shipyard.lifecycle.retraining import RetrainJob
from shipyard.lifecycle.rollouts import check_steps
from shipyard.monitoring.alerts import DEFAULT_THRESHOLDS, Threshold
from shipyard.monitoring.monitor import MonitorConfig
from shipyard.monitoring.notifiers.base import create_notifier
from shipyard.registry.deployments import DeploymentSpec

Duration = Seconds
"""A duration in the file (``30s``, ``5m``, ``1h``, or seconds), held as seconds once validated."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def _domain_check(self) -> None:
        """Build the domain object this section describes: it checks what pydantic cannot."""

    @model_validator(mode="after")
    def _checked(self) -> Self:
        try:
            self._domain_check()
        except InvalidArgument as exc:
            raise ValueError(str(exc)) from None
        return self


class ProtectedAlias(_Strict):
    approvals: int = Field(default=1, ge=1)


class ModelConfig(_Strict):
    description: str | None = None
    protected_aliases: dict[str, ProtectedAlias] = Field(default_factory=dict)


class RouteConfig(_Strict):
    target: str
    weight: float = 100.0


class ShadowConfig(_Strict):
    target: str
    percent: float = 100.0


class StickyConfig(_Strict):
    kind: Literal["header", "field"]
    name: str


class DeploymentConfig(_Strict):
    routes: list[RouteConfig]
    shadows: list[ShadowConfig] = Field(default_factory=list)
    sticky: StickyConfig | None = None
    description: str = ""

    def spec(self) -> DeploymentSpec:
        return DeploymentSpec.from_dict(self.model_dump(exclude={"description"}))

    def _domain_check(self) -> None:
        self.spec()


class ThresholdConfig(_Strict):
    metric: str
    warning: float | None = None
    critical: float | None = None
    direction: Literal["above", "below"] = "above"


class MonitorSettings(_Strict):
    window: Duration = 3600.0
    every: Duration = 300.0
    thresholds: list[ThresholdConfig] | None = None
    """Replaces the defaults when given."""

    def config(self, name: str = "default") -> MonitorConfig:
        thresholds = (
            DEFAULT_THRESHOLDS
            if self.thresholds is None
            else tuple(
                Threshold(t.metric, t.warning, t.critical, t.direction) for t in self.thresholds
            )
        )
        return MonitorConfig(
            window=dt.timedelta(seconds=self.window), thresholds=thresholds, name=name
        )

    def _domain_check(self) -> None:
        self.config()


class RetrainConfig(_Strict):
    entrypoint: str
    timeout: Duration = 600.0
    holdout: float = Field(default=0.2, gt=0, lt=1)
    window: Duration = 7 * 86400.0
    min_rows: int = Field(default=50, ge=1)
    after_drift: bool = False
    """When a drift trigger fired, start the window no earlier than the end of the episode's first
    drifted monitor window: the change happened before it, so the job sees labels from after it only."""

    def job(self) -> RetrainJob:
        return RetrainJob(
            self.entrypoint,
            timeout=self.timeout,
            holdout=self.holdout,
            min_rows=self.min_rows,
        )

    def _domain_check(self) -> None:
        self.job()


class EvaluationConfig(_Strict):
    metric: str = "accuracy"
    min_absolute_change: float = 0.0
    min_relative_change: float = 0.0
    threshold: float | None = None
    max_latency_ratio: float = 3.0
    significant: bool = False

    def criteria(self) -> Criteria:
        return Criteria(**self.model_dump())


class RolloutConfig(_Strict):
    strategy: Literal["canary", "bluegreen", "shadow"] = "canary"
    steps: list[float] | None = None
    interval: Duration = 60.0
    failure_limit: int = Field(default=0, ge=0)
    gates: dict[str, float] = Field(default_factory=dict)

    @field_validator("steps")
    @classmethod
    def _increasing(cls, value: list[float] | None) -> list[float] | None:
        try:
            if value is not None:
                check_steps(value)
        except InvalidArgument as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("gates")
    @classmethod
    def _known_gates(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - set(GateConfig.__dataclass_fields__)
        if unknown:
            raise ValueError(
                f"unknown gate(s) {sorted(unknown)}; known: {', '.join(GateConfig.__dataclass_fields__)}"
            )
        return value


class TriggerConfig(_Strict):
    kind: Literal["drift", "performance", "schedule", "labels", "manual"]
    windows: int = Field(default=3, ge=1)
    metric: str = "performance.accuracy"
    threshold: float | None = None
    reference: float | None = None
    margin: float | None = None
    cron: str | None = None
    min_labels: int = Field(default=1000, ge=1)
    min_importance_share: float | None = Field(default=None, ge=0, le=1)
    """drift: the drifted columns must carry at least this share of the model's importance."""


class PolicyConfig(_Strict):
    name: str
    endpoint: str
    trigger: TriggerConfig
    actions: list[
        Literal["alert", "retrain", "evaluate", "rollout", "rollback", "require_approval"]
    ]
    cooldown: Duration = 3600.0

    def policy(self) -> Policy:
        return Policy(
            self.name,
            self.endpoint,
            Trigger(**self.trigger.model_dump()),
            tuple(self.actions),
            self.cooldown,
        )

    def _domain_check(self) -> None:
        self.policy()


class NotifierConfig(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    kind: str

    @model_validator(mode="after")
    def _known(self) -> Self:
        try:
            create_notifier(self.kind, dict(self.model_extra or {}))
        except InvalidArgument as exc:
            raise ValueError(str(exc)) from None
        return self


class Project(_Strict):
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    deployments: dict[str, DeploymentConfig] = Field(default_factory=dict)
    monitors: dict[str, MonitorSettings] = Field(default_factory=dict)
    retraining: dict[str, RetrainConfig] = Field(default_factory=dict)
    evaluation: dict[str, EvaluationConfig] = Field(default_factory=dict)
    rollout: dict[str, RolloutConfig] = Field(default_factory=dict)
    policies: list[PolicyConfig] = Field(default_factory=list)
    notifiers: list[NotifierConfig] = Field(default_factory=list)
    retention: dict[str, Duration] = Field(default_factory=dict)
    """Prediction-log retention per endpoint (default ``SHIPYARD_LOG_RETENTION``)."""

    def retention_periods(self) -> dict[str, dt.timedelta]:
        return {e: dt.timedelta(seconds=v) for e, v in self.retention.items()}

    def policy_objects(self) -> list[Policy]:
        return [p.policy() for p in self.policies]


# -- loading with line numbers ------------------------------------------------------------------------

MAX_NODES = 100_000
"""Most YAML nodes a project file may expand to (aliases included): no billion laughs."""

Loc = tuple[Any, ...]


def _lines(node: yaml.Node, source: str) -> dict[Loc, int]:
    """The line of every path in the document; refuses aliases that contain themselves and
    documents that expand to more than ``MAX_NODES`` nodes."""
    out: dict[Loc, int] = {}
    seen = 0
    # (node, path, ids of the collection nodes above it): iterative, so depth cannot overflow
    stack: list[tuple[yaml.Node, Loc, frozenset[int]]] = [(node, (), frozenset())]
    while stack:
        current, path, above = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise InvalidArgument(
                f"{source}: more than {MAX_NODES:,} YAML nodes (aliases expanded)"
            )
        line = current.start_mark.line + 1
        out.setdefault(path, line)
        if id(current) in above:
            raise InvalidArgument(
                f"{source}:{line}: a YAML alias refers to a node that contains it"
            )
        inner = above | {id(current)}
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                sub = (*path, key.value)
                out.setdefault(sub, key.start_mark.line + 1)
                stack.append((value, sub, inner))
        elif isinstance(current, yaml.SequenceNode):
            for i, item in enumerate(current.value):
                stack.append((item, (*path, i), inner))
    return out


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _cross_checks(project: Project) -> list[tuple[Loc, str]]:
    """What no single section can check alone: references between sections."""
    problems: list[tuple[Loc, str]] = []
    for i, p in enumerate(project.policies):
        if "retrain" in p.actions and p.endpoint not in project.retraining:
            problems.append(
                (
                    ("policies", i, "actions"),
                    f"action 'retrain' needs a 'retraining' entry for {p.endpoint!r}",
                )
            )
    return problems


def parse(text: str, source: str = "shipyard.yaml") -> Project:
    """A validated project: every section and every value, with the line of the first problem."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        lines = _lines(node, source) if node is not None else {}
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{mark.line + 1}:" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc
        raise InvalidArgument(f"{source}:{where} not valid YAML: {_one_line(problem)}") from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise InvalidArgument(f"{source}: the top level must be a mapping of sections")
    try:
        project = Project.model_validate(data)
    except ValidationError as exc:
        problems = [(tuple(e["loc"]), str(e["msg"])) for e in exc.errors()]
    else:
        problems = _cross_checks(project)
        if not problems:
            return project
    loc, message = problems[0]
    line = next((lines[loc[:i]] for i in range(len(loc), -1, -1) if loc[:i] in lines), None)
    field = ".".join(str(p) for p in loc) or "(top level)"
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    message = _one_line(message.removeprefix("Value error, "))
    raise InvalidArgument(f"{source}:{line or '?'}: {field}: {message}{more}")


def load(path: str | Path) -> Project:
    file = Path(path)
    if not file.is_file():
        raise NotFound(f"project file {file} does not exist")
    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(
            f"{file}: not a text file (byte {exc.start} is not UTF-8); expected YAML"
        ) from None
    except OSError as exc:
        raise InvalidArgument(f"cannot read {file}: {exc.strerror or exc}") from None
    return parse(text, source=str(file))
