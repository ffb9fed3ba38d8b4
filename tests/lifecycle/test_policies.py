"""Policies are pure: each trigger, the cool-down, and bad definitions."""

from __future__ import annotations

import datetime as dt

import pytest

from shipyard.core.errors import InvalidArgument
from shipyard.lifecycle.policies import Policy, PolicyState, Signals, Trigger, evaluate

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def policy(trigger: Trigger, cooldown: float = 3600) -> Policy:
    return Policy("p", "churn", trigger, ("alert", "retrain"), cooldown)


def test_drift_needs_n_consecutive_windows() -> None:
    p = policy(Trigger("drift", windows=3))
    assert evaluate(p, PolicyState(), Signals(NOW, {"drift.dataset": [1, 1, 0, 1, 1]})) == []
    actions = evaluate(p, PolicyState(), Signals(NOW, {"drift.dataset": [0, 1, 1, 1]}))
    assert [a.kind for a in actions] == ["alert", "retrain"]
    assert actions[0].why == {"trigger": "drift", "windows": 3, "drift.dataset": [1, 1, 1]}


def test_drift_can_require_a_share_of_importance() -> None:
    p = policy(Trigger("drift", windows=2, min_importance_share=0.5))
    drifted = {"drift.dataset": [1, 1]}
    # drift of unimportant columns does not count, nor drift of a model without importance
    unimportant = Signals(NOW, {**drifted, "drift.importance_share": [0.6, 0.1]})
    assert evaluate(p, PolicyState(), unimportant) == []
    assert evaluate(p, PolicyState(), Signals(NOW, drifted)) == []
    important = Signals(NOW, {**drifted, "drift.importance_share": [0.2, 0.5, 0.7]})
    (alert, _) = evaluate(p, PolicyState(), important)
    assert alert.why["drift.importance_share"] == [0.5, 0.7]
    with pytest.raises(InvalidArgument, match="min_importance_share"):
        Trigger("drift", min_importance_share=1.5)


def test_performance_threshold_and_margin_realised_or_estimated() -> None:
    absolute = policy(Trigger("performance", metric="estimated.accuracy", threshold=0.8))
    assert evaluate(absolute, PolicyState(), Signals(NOW, {"estimated.accuracy": [0.9, 0.79]}))
    assert not evaluate(absolute, PolicyState(), Signals(NOW, {"estimated.accuracy": [0.81]}))
    relative = policy(Trigger("performance", reference=0.9, margin=0.05))
    why = evaluate(relative, PolicyState(), Signals(NOW, {"performance.accuracy": [0.84]}))[0].why
    assert why["limit"] == pytest.approx(0.85) and why["value"] == 0.84
    assert not evaluate(
        relative, PolicyState(), Signals(NOW, {})
    )  # no labels yet: nothing to judge


def test_schedule_fires_when_the_cron_comes_due() -> None:
    p = policy(Trigger("schedule", cron="0 3 * * *"), cooldown=0)
    assert not evaluate(p, PolicyState(), Signals(NOW))  # the first check starts the clock
    checked = PolicyState(last_checked_at=NOW.replace(hour=2, minute=59))
    assert not evaluate(p, checked, Signals(NOW.replace(hour=2, minute=59, second=30)))
    assert evaluate(p, checked, Signals(NOW.replace(hour=3, minute=0, second=5)))


def test_label_volume_and_manual() -> None:
    p = policy(Trigger("labels", min_labels=500))
    assert not evaluate(p, PolicyState(), Signals(NOW, new_labels=499))
    assert evaluate(p, PolicyState(), Signals(NOW, new_labels=500))
    m = policy(Trigger("manual"))
    assert not evaluate(m, PolicyState(), Signals(NOW))
    fired_recently = PolicyState(last_fired_at=NOW - dt.timedelta(seconds=5))
    assert evaluate(m, fired_recently, Signals(NOW, manual=True))  # a person asked: no cool-down


def test_cooldown_stops_one_episode_from_retraining_ten_times() -> None:
    p = policy(Trigger("drift", windows=1), cooldown=3600)
    drifting = Signals(NOW, {"drift.dataset": [1]})
    assert not evaluate(p, PolicyState(last_fired_at=NOW - dt.timedelta(minutes=30)), drifting)
    assert evaluate(p, PolicyState(last_fired_at=NOW - dt.timedelta(minutes=61)), drifting)


def test_bad_definitions() -> None:
    with pytest.raises(InvalidArgument, match="valid cron expression"):
        Trigger("schedule", cron="every day")
    with pytest.raises(InvalidArgument, match="needs 'threshold'"):
        Trigger("performance")
    with pytest.raises(InvalidArgument, match="unknown action 'deploy'"):
        Policy("p", "e", Trigger("manual"), ("deploy",))
