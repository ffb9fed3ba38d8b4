"""The project file: validation with line numbers, and an idempotent apply."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from shipyard.core.errors import InvalidArgument
from shipyard.lifecycle.apply import apply
from shipyard.lifecycle.project import load, parse
from shipyard.registry.deployment_service import DeploymentService
from shipyard.registry.governance import GovernanceService
from shipyard.registry.service import RegistryService
from shipyard.registry.sql.deployments import SqlDeploymentStore
from shipyard.registry.sql.governance import SqlGovernanceStore
from shipyard.testing import ThresholdModel

GOOD = """\
models:
  m:
    description: the m model
    protected_aliases: {champion: {approvals: 2}}
deployments:
  m-ab:
    routes:
      - {target: m/1, weight: 80}
      - {target: m/2, weight: 20}
    sticky: {kind: header, name: x-user}
monitors:
  m: {window: 30m, every: 5m}
retraining:
  m: {entrypoint: "pkg.train:fit", window: 3d}
rollout:
  m: {strategy: canary, steps: [10, 50, 100], interval: 2m, gates: {max_p99_ms: 200}}
policies:
  - name: drift
    endpoint: m
    trigger: {kind: drift, windows: 2}
    actions: [alert, retrain, evaluate, rollout]
    cooldown: 2h
"""


def test_project_notifiers_reach_the_controller(tmp_path: Path) -> None:
    from shipyard.app import build
    from shipyard.core.config import Settings
    from shipyard.monitoring.notifiers.webhook import WebhookNotifier

    project = tmp_path / "shipyard.yaml"
    project.write_text(
        "notifiers:\n  - {kind: webhook, url: 'http://127.0.0.1:9/hook', secret: s}\n"
    )
    svc = build(Settings(home=tmp_path / "h", project=project))
    try:
        svc.controller()
        assert any(isinstance(n, WebhookNotifier) for n in svc.monitoring.alerts.notifiers)
    finally:
        svc.close()


def test_a_good_project_parses_into_domain_objects() -> None:
    project = parse(GOOD)
    [policy] = project.policy_objects()
    assert policy.cooldown == 7200 and policy.trigger.windows == 2
    assert project.retraining["m"].job().entrypoint == "pkg.train:fit"
    assert project.monitors["m"].config().window.total_seconds() == 1800
    assert project.deployments["m-ab"].spec().sticky is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "policies:\n  - name: p\n    endpoint: m\n    trigger: {kind: rain}\n    actions: [alert]\n",
            "shipyard.yaml:4: policies.0.trigger.kind: Input should be",
        ),
        (
            "monitors:\n  m:\n    window: 1h\n    evry: 5m\n",
            "shipyard.yaml:4: monitors.m.evry: Extra inputs are not permitted",
        ),
        (
            "rollout:\n  m: {gates: {p99: 3}}\n",
            "shipyard.yaml:2: rollout.m.gates: unknown gate(s) ['p99']",
        ),
        (
            "deployments:\n  d:\n    routes: []\n",
            "shipyard.yaml:2: deployments.d: a deployment needs at least one route",
        ),
        ("policies: [\n", "shipyard.yaml:2: not valid YAML"),
        ("- a\n- b\n", "the top level must be a mapping"),
        (
            "policies:\n  - {name: p, endpoint: m, trigger: {kind: schedule, cron: nope}, actions: [alert]}\n",
            "shipyard.yaml:2: policies.0: schedule trigger needs a valid cron expression",
        ),
        # durations are parsed and bounded when the file is read, never later by a server
        (
            "monitors:\n  churn:\n    window: forever\n",
            "shipyard.yaml:3: monitors.churn.window: expected a duration such as 30s, 15m, 1h, 2d, "
            "got 'forever'",
        ),
        (
            "monitors:\n  churn:\n    every: 99999999999w\n",
            "shipyard.yaml:3: monitors.churn.every: must be at most 3660d",
        ),
        (
            "policies:\n  - {name: p, endpoint: m, trigger: {kind: manual}, actions: [alert],"
            " cooldown: -5}\n",
            "shipyard.yaml:2: policies.0.cooldown: must be longer than zero",
        ),
        (
            "rollout:\n  m:\n    interval: 0s\n",
            "shipyard.yaml:3: rollout.m.interval: must be longer",
        ),
        (
            "rollout:\n  m:\n    steps: [50, 10]\n",
            "shipyard.yaml:3: rollout.m.steps: canary steps must increase within (0, 100]",
        ),
        (
            "retraining:\n  m:\n    entrypoint: train.py\n",
            "shipyard.yaml:2: retraining.m: entrypoint 'train.py': expected module:function",
        ),
        (
            "notifiers:\n  - kind: pager\n",
            "shipyard.yaml:2: notifiers.0: unknown notifier kind 'pager'",
        ),
        (
            "notifiers:\n  - kind: webhook\n",
            "shipyard.yaml:2: notifiers.0: webhook notifier needs 'url'",
        ),
        (
            "policies:\n  - {name: p, endpoint: m, trigger: {kind: manual}, actions: [retrain]}\n",
            "shipyard.yaml:2: policies.0.actions: action 'retrain' needs a 'retraining' entry for 'm'",
        ),
        (
            "monitors:\n  a: {window: nope}\n  b: {window: never}\n",
            "shipyard.yaml:2: monitors.a.window: expected a duration such as 30s, 15m, 1h, 2d, got "
            "'nope' (and 1 more problem(s))",
        ),
        # YAML that refers to itself, or expands without bound, is refused before it is built
        ("a: &a [*a]\n", "shipyard.yaml:1: a YAML alias refers to a node that contains it"),
        (
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n"
                for p, c in zip("abcdef", "bcdefg", strict=True)
            ),
            "shipyard.yaml: more than 100,000 YAML nodes",
        ),
        ("a: \x00\n", "shipyard.yaml: not valid YAML: unacceptable character #x0000"),
    ],
)
def test_bad_files_name_the_field_and_line(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_binary_file_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "shipyard.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    with pytest.raises(
        InvalidArgument, match=r"shipyard.yaml: not a text file \(byte 0 is not UTF-8\)"
    ):
        load(path)


def test_durations_are_held_as_seconds() -> None:
    project = parse(
        "monitors:\n  m: {window: 90s, every: 500ms}\nretraining:\n  m: {entrypoint: 'a:b', timeout: 2}\n"
    )
    assert project.monitors["m"].window == 90 and project.monitors["m"].every == 0.5
    assert project.retraining["m"].job().timeout == 2


def test_apply_is_idempotent_and_dry_run_changes_nothing(registry: RegistryService) -> None:
    frame = pd.DataFrame({"x": [0.0, 1.0]})
    for t in (0.0, 0.5):
        registry.log_model(ThresholdModel("x", t), name="m", X_sample=frame)
    deployments = DeploymentService(SqlDeploymentStore(registry.store), registry)  # type: ignore[arg-type]
    governance = GovernanceService(SqlGovernanceStore(registry.store), registry)  # type: ignore[arg-type]
    project = parse(GOOD)
    planned = apply(project, registry, deployments, governance=governance, dry_run=True)
    assert {(c.kind, c.target) for c in planned} == {
        ("update", "model m"),
        ("create", "deployment m-ab"),
        ("protect", "alias m@champion"),
    }
    assert deployments.all() == [] and governance.protected("m", "champion") is None  # dry run
    assert len(apply(project, registry, deployments, governance=governance)) == 3
    assert registry.get_model("m").description == "the m model"
    assert deployments.get("m-ab").spec.routes[1].weight == 20
    assert governance.protected("m", "champion") == 2
    assert apply(project, registry, deployments, governance=governance) == []  # idempotent
    changed = parse(GOOD.replace("weight: 20", "weight: 30"))
    [update] = apply(changed, registry, deployments, governance=governance)
    assert update.kind == "update" and update.detail == "m/1=80, m/2=20 -> m/1=80, m/2=30"
