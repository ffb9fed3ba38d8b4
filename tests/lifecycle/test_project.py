"""The project file: validation with line numbers, and an idempotent apply."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from shipyard.core.errors import InvalidArgument
from shipyard.lifecycle.apply import apply
from shipyard.lifecycle.project import parse
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
            "rollout.m.gates: Value error, unknown gate(s) ['p99']",
        ),
        ("deployments:\n  d:\n    routes: []\n", "a deployment needs at least one route"),
        ("policies: [\n", "is not valid YAML"),
        ("- a\n- b\n", "the top level must be a mapping"),
        (
            "policies:\n  - {name: p, endpoint: m, trigger: {kind: schedule, cron: nope}, actions: [alert]}\n",
            "valid cron expression",
        ),
    ],
)
def test_bad_files_name_the_field_and_line(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse(text)
    assert message in str(info.value)


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
