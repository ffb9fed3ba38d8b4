"""The README's first command: the whole closed loop, end to end, on a fresh home.

The demo runs as a user runs it (a subprocess), then the test reads the home it leaves behind — the
audit log, monitor points, the challenger's lineage, the rollout records — and checks the story
happened as told, not just that the command exited 0.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator

import pytest

from shipyard.app import Services, build
from shipyard.core.config import Settings
from shipyard.interfaces.cli.demo import ENDPOINT, MIN_GAIN, WORLD_CHANGE


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Services]]:
    home = tmp_path_factory.mktemp("demo") / "home"
    run = subprocess.run(
        [sys.executable, "-m", "shipyard.interfaces.cli.main", "demo", "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=900,  # the demo's own stage deadlines fire long before on a live machine
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    services = build(Settings(home=home))
    yield run.stdout, services
    services.close()


def _changed_at(services: Services) -> dt.datetime:
    [change] = services.registry.audit(action=WORLD_CHANGE)
    return dt.datetime.fromisoformat(change.details["at"])


def test_the_table_tells_every_stage(demo: tuple[str, Services]) -> None:
    out, services = demo
    for stage in (
        "make it the champion",
        "the monitor sees no drift",
        "drift detected",
        "retrains on post-change labels",
        "champion vs challenger",
        "canary rollout with gates promotes it",
        "deliberately bad challenger is rolled back",
        "write the monitoring report",
    ):
        assert stage in out, stage
    assert (services.settings.home / "report.html").stat().st_size > 10_000


def test_drift_is_seen_only_after_the_world_changed(demo: tuple[str, Services]) -> None:
    _, services = demo
    changed_at = _changed_at(services)
    points = services.monitoring.store.points(ENDPOINT, metric="drift.dataset")
    before = [p.value for p in points if p.window_end < changed_at]
    after = [p.value for p in points if p.window_start > changed_at]
    assert before and set(before) == {0.0}
    assert 1.0 in after


def test_the_policy_retrained_on_labels_from_after_the_change(demo: tuple[str, Services]) -> None:
    _, services = demo
    [fired] = services.registry.audit(action="policy.fire", target=ENDPOINT)
    assert fired.details["why"]["trigger"] == "drift"
    assert fired.details["why"]["drift.dataset"] == [1.0] * 4
    assert fired.at > _changed_at(services)
    v2 = services.registry.get_version(ENDPOINT, 2)
    lineage = services.registry.manifest(v2).lineage
    assert lineage.parent == f"{ENDPOINT}/1"
    since, until = (dt.datetime.fromisoformat(t) for t in lineage.extra["window"])
    assert _changed_at(services) < since < until
    # the window starts where the drift episode began: the end of its first drifted monitor window
    points = services.monitoring.store.points(ENDPOINT, metric="drift.dataset")
    onset = min(p.window_end for p in points if p.value == 1.0)
    assert abs((since - onset).total_seconds()) < 0.001
    assert lineage.extra["training_rows"] >= 150
    assert not services.registry.audit(action="retrain.failed")


def test_the_challenger_won_clearly_on_held_out_labels(demo: tuple[str, Services]) -> None:
    _, services = demo
    [evaluation] = services.registry.audit(action="evaluation", target=f"{ENDPOINT}/2")
    d = evaluation.details
    assert d["verdict"] == "challenger" and d["reasons"] == []
    gain = d["challenger"]["metrics"]["accuracy"] - d["champion"]["metrics"]["accuracy"]
    assert d["improvement"] == pytest.approx(gain) and gain >= MIN_GAIN
    assert 0 < d["improvement_low"] <= gain <= d["improvement_high"]
    assert d["rows"] >= 150


def test_the_canary_promoted_it_and_the_bad_challenger_was_rolled_back(
    demo: tuple[str, Services],
) -> None:
    _, services = demo
    bad, good = services.rollouts.history(ENDPOINT)
    assert good.status == "succeeded" and good.created_by == "controller"
    assert [e.kind for e in services.rollouts.store.events(good.id)][-1] == "promote"
    assert bad.status == "rolled_back"
    last = services.rollouts.store.events(bad.id)[-1]
    assert last.kind == "rollback"
    assert last.details["reason"] == "failed gate(s): success_rate"
    history = services.registry.alias_history(ENDPOINT, "champion")
    assert [(e.from_version, e.to_version) for e in history] == [(None, 1), (1, 2)]
    assert services.registry.get_alias(ENDPOINT, "champion").version == 2


def test_the_demo_ends_at_the_story_page_that_tells_the_whole_life(
    demo: tuple[str, Services],
) -> None:
    from shipyard.interfaces.http.app import create_app
    from tests.interfaces.console.conftest import Client, config

    out, services = demo
    assert f"/ui/endpoints/{ENDPOINT}/story" in out.splitlines()[-1]
    with Client(create_app(services, config())) as client:  # no token exists: loopback is open
        page = client.get(f"/ui/endpoints/{ENDPOINT}/story")
    assert page.status_code == 200
    story = page.text
    for chapter in (
        "Drift: drift.dataset",  # the monitor's alert
        "Policy retrain-on-drift fired",
        f"Retrained {ENDPOINT}/2 from {ENDPOINT}/1",  # with the job's window and log tail
        f"Evaluation of {ENDPOINT}/2: the challenger wins",
        f"{ENDPOINT}/1 → {ENDPOINT}/2 (canary)",
        f"{ENDPOINT}@champion moved 1 → 2",  # the promotion
        f"{ENDPOINT}/2 → {ENDPOINT}/3 (canary)",
        "rollback → rolled_back",  # the bad challenger's, by its success-rate gate
    ):
        assert chapter in story, chapter
    assert "success_rate" in story
