"""The project file, ``shipyard.yaml``: models, deployments, monitors, retraining, policies, notifiers.

Validated with pydantic; an error names the field and the line of the file it is on. ``shipyard
apply`` reconciles the registry with the deployments and model settings it declares; the controller
reads its monitors, retraining jobs and policies (``--project`` / ``SHIPYARD_PROJECT``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shipyard.core.errors import InvalidArgument, NotFound
from shipyard.lifecycle.evaluation import Criteria
from shipyard.lifecycle.gates import GateConfig
from shipyard.lifecycle.policies import Policy, Trigger
from shipyard.lifecycle.retraining import RetrainJob
from shipyard.monitoring.alerts import DEFAULT_THRESHOLDS, Threshold
from shipyard.monitoring.monitor import MonitorConfig
from shipyard.registry.deployments import DeploymentSpec

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def seconds(value: str | float | int) -> float:
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(value.strip())
    if not match:
        raise ValueError(f"expected a duration such as 30s, 5m, 1h, got {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


Duration = str | float


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class ThresholdConfig(_Strict):
    metric: str
    warning: float | None = None
    critical: float | None = None
    direction: Literal["above", "below"] = "above"


class MonitorSettings(_Strict):
    window: Duration = "1h"
    every: Duration = "5m"
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
            window=dt.timedelta(seconds=seconds(self.window)), thresholds=thresholds, name=name
        )


class RetrainConfig(_Strict):
    entrypoint: str
    timeout: Duration = "10m"
    holdout: float = Field(default=0.2, gt=0, lt=1)
    window: Duration = "7d"
    min_rows: int = Field(default=50, ge=1)
    after_drift: bool = False
    """When a drift trigger fired, start the window no earlier than the end of the episode's first
    drifted monitor window: the change happened before it, so the job sees labels from after it only."""

    def job(self) -> RetrainJob:
        return RetrainJob(
            self.entrypoint,
            timeout=seconds(self.timeout),
            holdout=self.holdout,
            min_rows=self.min_rows,
        )


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
    interval: Duration = "60s"
    failure_limit: int = Field(default=0, ge=0)
    gates: dict[str, float] = Field(default_factory=dict)

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


class PolicyConfig(_Strict):
    name: str
    endpoint: str
    trigger: TriggerConfig
    actions: list[
        Literal["alert", "retrain", "evaluate", "rollout", "rollback", "require_approval"]
    ]
    cooldown: Duration = "1h"

    def policy(self) -> Policy:
        return Policy(
            self.name,
            self.endpoint,
            Trigger(**self.trigger.model_dump()),
            tuple(self.actions),
            seconds(self.cooldown),
        )


class NotifierConfig(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    kind: str


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

    @field_validator("retention")
    @classmethod
    def _durations(cls, value: dict[str, Duration]) -> dict[str, Duration]:
        for endpoint, text in value.items():
            if seconds(text) <= 0:
                raise ValueError(f"{endpoint}: retention must be longer than zero")
        return value

    def retention_periods(self) -> dict[str, dt.timedelta]:
        return {e: dt.timedelta(seconds=seconds(v)) for e, v in self.retention.items()}

    def policy_objects(self) -> list[Policy]:
        return [p.policy() for p in self.policies]


# -- loading with line numbers ------------------------------------------------------------------------


def _lines(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            out[(*path, key.value)] = key.start_mark.line + 1
            _lines(value, (*path, key.value), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*path, i), out)


def parse(text: str, source: str = "shipyard.yaml") -> Project:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise InvalidArgument(
            f"{source}:{where} is not valid YAML: {getattr(exc, 'problem', exc)}"
        ) from exc
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise InvalidArgument(f"{source}: the top level must be a mapping of sections")
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _lines(node, (), lines)
    try:
        project = Project.model_validate(data)
        for p in project.policies:  # the domain objects check what pydantic cannot
            p.policy()
        for d in project.deployments.values():
            d.spec()
        return project
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        line = next((lines[loc[:i]] for i in range(len(loc), -1, -1) if loc[:i] in lines), None)
        field = ".".join(str(p) for p in loc) or "(top level)"
        raise InvalidArgument(f"{source}:{line or '?'}: {field}: {err['msg']}") from exc
    except InvalidArgument as exc:
        raise InvalidArgument(f"{source}: {exc}") from exc


def load(path: str | Path) -> Project:
    file = Path(path)
    if not file.is_file():
        raise NotFound(f"project file {file} does not exist")
    return parse(file.read_text(), source=str(file))
