"""The closed loop in-process: retraining (failing and succeeding), champion/challenger both ways."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from shipyard.app import Services, build
from shipyard.core.config import Settings
from shipyard.examples.churn import build as build_model
from shipyard.examples.churn import generate
from shipyard.lifecycle.policies import Action
from shipyard.lifecycle.project import parse
from shipyard.telemetry.records import PredictionEvent

PROJECT = """\
retraining:
  churn: {{entrypoint: "{entry}", window: 1h, holdout: 0.25, min_rows: 100, timeout: 2m}}
evaluation:
  churn: {{metric: accuracy, min_absolute_change: 0.02}}
policies:
  - {{name: manual, endpoint: churn, trigger: {{kind: manual}}, actions: [retrain, evaluate]}}
"""


def train_bad(window: pd.DataFrame, reference: dict[str, Any]) -> Any:
    X, y = generate(1500, 1)  # ignores the recent window: no better than the champion
    return build_model().fit(X.iloc[:1000], y[:1000])


def train_crash(window: pd.DataFrame, reference: dict[str, Any]) -> Any:
    raise RuntimeError("no GPU today")


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = build(Settings(home=tmp_path / "home"))
    X, y = generate(1500, 1)
    champion = build_model().fit(X.iloc[:1000], y[:1000])
    v1 = svc.registry.log_model(champion, name="churn", X_sample=X.iloc[1000:], y_sample=y[1000:])
    svc.registry.set_alias("churn", "champion", v1.version)
    frame, labels = generate(600, 5, drifted=True)  # the world changed: the log holds it, labelled
    writer = svc.log_writer()
    for i in range(0, 600, 10):
        part = frame.iloc[i : i + 10]
        writer.submit(
            PredictionEvent(
                request_id=f"r{i}",
                ts=time.time(),
                endpoint="churn",
                model="churn",
                version=1,
                route="primary",
                status="ok",
                latency_ms=1.0,
                inputs=part,
                predictions=champion.predict(part),
                probabilities=champion.predict_proba(part),
                classes=(0, 1),
            )
        )
    writer.close()
    result = svc.feedback.append(
        [(f"r{i}", labels[i : i + 10].tolist()) for i in range(0, 600, 10)]
    )
    assert result.accepted == 600
    yield svc
    svc.close()


def run_manual(svc: Services, entry: str) -> Any:
    loop = svc.closed_loop(parse(PROJECT.format(entry=entry)))
    try:
        [policy] = loop.policies
        return loop.execute(
            policy, [Action(a, policy.name, "churn", {"trigger": "manual"}) for a in policy.actions]
        )
    finally:
        loop.close()


def test_retrained_challenger_wins_with_lineage(services: Services) -> None:
    out = run_manual(services, "shipyard.examples.churn:train")
    assert out.stopped is None and out.retrain is not None and out.retrain.ok
    v2 = out.retrain.version
    assert v2 is not None and v2.version == 2 and v2.tags["retrained.from"] == "churn/1"
    lineage = services.registry.manifest(v2).lineage
    assert lineage.parent == "churn/1" and lineage.extra["trigger"]["trigger"] == "manual"
    assert len(lineage.extra["window"]) == 2 and lineage.extra["training_rows"] == 450
    ev = out.evaluation
    assert ev is not None and ev.verdict == "challenger" and ev.rows == 150
    assert ev.challenger.metrics["accuracy"] > ev.champion.metrics["accuracy"] + 0.02
    assert ev.challenger.low <= ev.challenger.metrics["accuracy"] <= ev.challenger.high
    assert services.registry.get_version("churn", 2).tags["evaluation.verdict"] == "challenger"
    assert [e.action for e in services.registry.audit(action="evaluation")] == ["evaluation"]


def test_a_losing_challenger_is_archived_with_the_reason(services: Services) -> None:
    out = run_manual(services, "tests.lifecycle.test_loop:train_bad")
    assert out.evaluation is not None and out.evaluation.verdict == "champion"
    assert out.stopped is not None and out.stopped.startswith("challenger lost")
    tags = services.registry.get_version("churn", 2).tags
    assert tags["status"] == "archived" and "change below 0.02" in tags["archived.reason"]
    assert services.registry.get_alias("churn", "champion").version == 1


def test_a_failing_training_job_registers_nothing_and_is_recorded(services: Services) -> None:
    out = run_manual(services, "tests.lifecycle.test_loop:train_crash")
    assert out.retrain is not None and not out.retrain.ok
    assert "exited with 1: RuntimeError: no GPU today" in str(out.retrain.error)
    assert [v.version for v in services.registry.list_versions("churn")] == [1]
    [failed] = services.registry.audit(action="retrain.failed")
    assert "no GPU today" in failed.details["stderr_tail"]


@pytest.mark.parametrize("after_drift", [True, False])
def test_after_drift_bounds_the_window_to_the_drift_episode(
    tmp_path: Path, after_drift: bool
) -> None:
    from shipyard.registry.entities import MetricPoint

    svc = build(Settings(home=tmp_path / "home"))
    try:
        X, y = generate(1500, 1)
        champion = build_model().fit(X.iloc[:1000], y[:1000])
        v1 = svc.registry.log_model(champion, name="churn", X_sample=X, y_sample=y)
        svc.registry.set_alias("churn", "champion", v1.version)
        now = time.time()
        writer = svc.log_writer()
        labels: list[tuple[str, list[int]]] = []
        # 300 rows of the old world 100 s ago, 300 of the new one 10 s ago
        for world, ago in ((False, 100.0), (True, 10.0)):
            frame, truth = generate(300, 7, drifted=world)
            for i in range(0, 300, 10):
                rid = f"{world}-{i}"
                part = frame.iloc[i : i + 10]
                writer.submit(
                    PredictionEvent(
                        request_id=rid,
                        ts=now - ago,
                        endpoint="churn",
                        model="churn",
                        version=1,
                        route="primary",
                        status="ok",
                        latency_ms=1.0,
                        inputs=part,
                        predictions=champion.predict(part),
                        probabilities=champion.predict_proba(part),
                        classes=(0, 1),
                    )
                )
                labels.append((rid, truth[i : i + 10].tolist()))
        writer.close()
        assert svc.feedback.append(labels).accepted == 600
        at = dt.datetime.fromtimestamp(now, dt.UTC)
        seconds_ago = [(90, 0.0), (60, 1.0), (30, 1.0), (5, 1.0)]  # the episode began 60 s ago
        svc.monitoring.store.add_points(
            [
                MetricPoint(
                    "churn",
                    "drift.dataset",
                    value,
                    window_start=at - dt.timedelta(seconds=ago + 20),
                    window_end=at - dt.timedelta(seconds=ago),
                )
                for ago, value in seconds_ago
            ]
        )
        project = PROJECT.format(entry="shipyard.examples.churn:train").replace(
            "min_rows: 100,", f"min_rows: 100, after_drift: {str(after_drift).lower()},"
        )
        loop = svc.closed_loop(parse(project))
        try:
            [policy] = loop.policies
            why = {"trigger": "drift", "windows": 3}
            out = loop.execute(policy, [Action("retrain", policy.name, "churn", why)])
        finally:
            loop.close()
        assert out.retrain is not None and out.retrain.ok, out.retrain
        assert out.retrain.window is not None
        since = out.retrain.window[0]
        if after_drift:  # the new world only: from the end of the first drifted window on
            assert out.retrain.rows == 300
            assert abs(since.timestamp() - (now - 60)) < 0.01
        else:
            assert out.retrain.rows == 600
            assert since.timestamp() < now - 3000
    finally:
        svc.close()
