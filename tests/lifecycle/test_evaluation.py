"""Champion vs challenger: the paired bootstrap interval of the improvement and ``significant``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.examples.churn import build as build_model
from shipyard.examples.churn import generate
from shipyard.lifecycle.evaluation import Criteria, evaluate
from shipyard.package import bundle
from shipyard.package.bundle import load
from shipyard.package.model import Model


def _logged(tmp_path: Path, name: str, model: Any, X: pd.DataFrame) -> Model:
    bundle.save(model, tmp_path / name, name=name, X_sample=X)
    return load(tmp_path / name)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Model, Model]:
    tmp = tmp_path_factory.mktemp("models")
    before, y_before = generate(1000, 1)
    after, y_after = generate(1000, 2, drifted=True)
    champion = _logged(tmp, "champion", build_model().fit(before, y_before), before)
    challenger = _logged(tmp, "challenger", build_model().fit(after, y_after), after)
    return champion, challenger


def _holdout(n: int, seed: int) -> pd.DataFrame:
    frame, labels = generate(n, seed, drifted=True)
    return frame.assign(label=labels)


def test_the_improvement_has_a_paired_interval_above_zero_when_the_gain_is_real(
    models: tuple[Model, Model],
) -> None:
    champion, challenger = models
    result = evaluate(
        champion,
        challenger,
        _holdout(400, 3),
        Criteria(min_absolute_change=0.1, significant=True, max_latency_ratio=float("inf")),
    )
    gain = result.challenger.metrics["accuracy"] - result.champion.metrics["accuracy"]
    assert result.verdict == "challenger", result.reasons
    assert result.improvement == pytest.approx(gain) and gain >= 0.1
    assert 0 < result.improvement_low < gain < result.improvement_high
    # paired: the difference's interval is narrower than the two marginal intervals put together
    width = result.improvement_high - result.improvement_low
    assert width < (result.challenger.high - result.challenger.low) + (
        result.champion.high - result.champion.low
    )
    assert result.to_dict()["improvement_low"] == result.improvement_low


def test_significant_refuses_a_gain_that_chance_explains(models: tuple[Model, Model]) -> None:
    champion, _ = models
    # the same model twice on a tiny holdout: improvement 0, interval straddles nothing above 0
    # (latency is not what this test is about: a busy machine must not decide it)
    relaxed = {"max_latency_ratio": float("inf")}
    result = evaluate(champion, champion, _holdout(20, 4), Criteria(significant=True, **relaxed))
    assert result.improvement == 0 and not result.improvement_low > 0
    assert result.verdict == "champion"
    assert any("is not significant" in r for r in result.reasons)
    plain = evaluate(champion, champion, _holdout(20, 4), Criteria(**relaxed))
    assert plain.verdict == "challenger"  # without `significant`, a tie clears min change 0


def test_lower_is_better_metrics_flip_the_sign(models: tuple[Model, Model]) -> None:
    champion, challenger = models
    criteria = Criteria(metric="log_loss", max_latency_ratio=float("inf"))
    result = evaluate(champion, challenger, _holdout(400, 5), criteria)
    assert result.challenger.metrics["log_loss"] < result.champion.metrics["log_loss"]
    assert result.improvement > 0 and result.improvement_low > 0
    assert np.isfinite(result.improvement_high)
