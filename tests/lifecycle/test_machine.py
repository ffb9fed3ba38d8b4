"""The rollout state machine and gates, as pure functions."""

from __future__ import annotations

import pytest

from shipyard.core.errors import Conflict, InvalidArgument
from shipyard.lifecycle import rollouts as m
from shipyard.lifecycle.gates import GateConfig, VersionWindow, analyze
from shipyard.registry.deployments import Sticky
from shipyard.serving.router import LoadedRoute, RouteTable

RESTORE = {"routes": [{"target": "m@champion", "weight": 100.0}], "shadows": [], "sticky": None}
OK = analyze(
    VersionWindow(2, requests=50, p99_ms=5), VersionWindow(1, requests=200, p99_ms=5), GateConfig()
)


def start(strategy: str = "canary", **kw: object) -> m.RolloutState:
    state, _ = m.plan(
        deployment="m",
        strategy=strategy,
        stable="m/1",
        candidate="m/2",
        restore=RESTORE,
        final=RESTORE,
        alias="m@champion",
        steps=kw.get("steps"),
        interval=10,  # type: ignore[arg-type]
        gates={},
        failure_limit=int(kw.get("failure_limit", 0)),
        keep_warm=5,
        now=0,
    )  # type: ignore[call-overload]
    return state


def test_gates() -> None:
    cfg = GateConfig()
    assert analyze(VersionWindow(2, requests=5), None, cfg).verdict == "inconclusive"
    assert OK.verdict == "successful"
    bad = analyze(VersionWindow(2, requests=100, errors=20, p99_ms=5), None, cfg)
    assert bad.verdict == "failed" and "success_rate" in bad.reason
    slow = analyze(
        VersionWindow(2, requests=100, p99_ms=50), VersionWindow(1, requests=100, p99_ms=5), cfg
    )
    assert slow.verdict == "failed" and "p99_ratio" in slow.reason
    noise = analyze(
        VersionWindow(2, requests=100, p99_ms=20), VersionWindow(1, requests=100, p99_ms=5), cfg
    )
    assert noise.verdict == "successful"  # 4x, but only 15 ms: below the absolute floor
    shifted = analyze(VersionWindow(2, requests=100, p99_ms=5), None, cfg, prediction_psi=0.6)
    assert shifted.verdict == "failed" and "prediction_psi" in shifted.reason
    worse = analyze(
        VersionWindow(2, requests=100, p99_ms=5, accuracy=0.80, labelled=100),
        VersionWindow(1, requests=100, p99_ms=5, accuracy=0.9, labelled=100),
        cfg,
    )
    assert worse.verdict == "failed" and "accuracy_drop" in worse.reason
    noisy = analyze(
        VersionWindow(2, requests=40, p99_ms=5, accuracy=0.80, labelled=40),
        VersionWindow(1, requests=40, p99_ms=5, accuracy=0.85, labelled=40),
        cfg,
    )
    assert noisy.verdict == "successful"  # 5 points on 40 labels is chance, not evidence


def test_canary_walks_its_steps_then_promotes() -> None:
    state = start(steps=(10.0, 50.0))
    assert state.steps == (10.0, 50.0, 100.0) and m.spec_for(state)["routes"][1] == {
        "target": "m/2",
        "weight": 10.0,
    }
    assert not m.due(state, 9.9) and m.due(state, 10)
    weights = []
    now = 10.0
    decision = m.advance(state, now, OK)
    while decision.status == "running":
        weights.append(decision.state.weight)
        now += 10
        decision = m.advance(decision.state, now, OK)
    assert weights == [50.0, 100.0]
    assert decision.status == "succeeded" and decision.move_alias == ("m", "champion", 2)
    assert decision.spec == RESTORE


def test_failure_rolls_back_at_once_by_default_and_after_the_limit_otherwise() -> None:
    failed = analyze(VersionWindow(2, requests=100, errors=50, p99_ms=5), None, GateConfig())
    d = m.advance(start(), 10, failed)
    assert d.status == "rolled_back" and d.spec == RESTORE and d.kind == "rollback"
    tolerant = start(failure_limit=1)
    d1 = m.advance(tolerant, 10, failed)
    assert d1.status == "running" and d1.kind == "analysis-failed"
    assert m.advance(d1.state, 20, failed).status == "rolled_back"


def test_inconclusive_holds_then_gives_up() -> None:
    state = start()
    none = analyze(VersionWindow(2, requests=0), None, GateConfig())
    for i in range(m.DEFAULT_MAX_INCONCLUSIVE - 1):
        d = m.advance(state, 10 + i, none)
        assert d.kind == "hold" and d.state.step_started_at == 0  # the window keeps growing
        state = d.state
    assert m.advance(state, 100, none).status == "rolled_back"


def test_bluegreen_preloads_switches_verifies_and_keeps_the_old_warm() -> None:
    state = start("bluegreen")
    assert m.spec_for(state)["routes"] == [
        {"target": "m/1", "weight": 100.0},
        {"target": "m/2", "weight": 0.0},
    ]
    switch = m.advance(state, 10, None)
    assert switch.kind == "switch" and switch.spec["routes"][1]["weight"] == 100.0  # type: ignore[index]
    promote = m.advance(switch.state, 20, OK)
    assert promote.move_alias == ("m", "champion", 2) and promote.state.phase == "standby"
    assert {"target": "m/1", "weight": 0.0} in promote.spec["routes"]  # type: ignore[index]
    assert not m.due(promote.state, 24) and m.due(promote.state, 25)
    undo = m.rollback(promote.state, 22, "by hand", status="aborted")
    assert (
        undo.move_alias == ("m", "champion", 1) and undo.spec == RESTORE
    )  # instant: m/1 still warm
    done = m.advance(promote.state, 25, None)
    assert done.status == "succeeded" and done.spec == RESTORE


def test_shadow_mirrors_then_promotes_or_discards() -> None:
    state = start("shadow")
    spec = m.spec_for(state)
    assert spec["routes"] == [{"target": "m/1", "weight": 100.0}]
    assert spec["shadows"] == [{"target": "m/2", "percent": 100.0}]
    assert m.advance(state, 10, OK).status == "succeeded"
    failed = analyze(VersionWindow(2, requests=100, errors=10, p99_ms=1), None, GateConfig())
    assert m.advance(state, 10, failed).status == "rolled_back"


def test_manual_controls() -> None:
    state = start()
    paused = m.pause(state)
    assert paused.status == "paused"
    with pytest.raises(Conflict):
        m.pause(paused.state)
    resumed = m.resume(paused.state, 50)
    assert resumed.state.phase == "step" and resumed.state.step_started_at == 50
    assert m.promote_now(state, 5).status == "succeeded"
    assert m.rollback(state, 5, "by hand", status="aborted").status == "aborted"


def test_bad_plans() -> None:
    with pytest.raises(InvalidArgument, match="strategy must be one of"):
        start("rainbow")
    with pytest.raises(InvalidArgument, match="canary steps must increase"):
        start(steps=(50.0, 10.0))
    with pytest.raises(Conflict, match="already what"):
        m.plan(
            deployment="m",
            strategy="canary",
            stable="m/1",
            candidate="m/1",
            restore=RESTORE,
            final=RESTORE,
            alias=None,
            steps=None,
            interval=1,
            gates={},
            failure_limit=0,
            keep_warm=0,
            now=0,
        )


class _Version:
    def __init__(self, n: int) -> None:
        self.number = n


def test_weights_within_two_points_over_10k_and_sticky_keys_stay_put() -> None:
    v1, v2 = _Version(1), _Version(2)
    table = RouteTable(routes=(LoadedRoute("m/1", v1, 90), LoadedRoute("m/2", v2, 10)))  # type: ignore[arg-type]
    picks = [table.pick().number for _ in range(10_000)]  # type: ignore[attr-defined]
    assert abs(picks.count(2) / 10_000 - 0.10) < 0.02
    sticky = RouteTable(routes=table.routes, sticky=Sticky("header", "x-user"))
    users = [f"user-{i}" for i in range(10_000)]
    first = [sticky.pick(u).number for u in users]  # type: ignore[attr-defined]
    assert first == [sticky.pick(u).number for u in users]  # type: ignore[attr-defined]
    assert abs(first.count(2) / 10_000 - 0.10) < 0.02
