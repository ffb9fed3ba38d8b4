"""The dataset drift verdict: no false alarm, named drifted columns, floors, edge cases, corrections."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from shipyard.core.errors import InvalidArgument
from shipyard.stats.drift import DriftConfig, benjamini_hochberg, compare, holm
from shipyard.stats.drift.correction import adjust
from shipyard.stats.profile import DatasetProfile, build_profile, numeric_values, observe


def frame(
    n: int, seed: int, shift: float = 0.0, shares: tuple[float, ...] = (0.5, 0.3, 0.2)
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.normal(shift, 1.0, n),
            "b": rng.lognormal(0.0, 1.0, n),
            "c": rng.uniform(0.0, 1.0, n),
            "k": rng.choice(["x", "y", "z"], n, p=list(shares)),
            "j": rng.choice(["u", "v"], n),
        }
    )


@cache
def reference() -> DatasetProfile:
    return build_profile(frame(20_000, 1))


@pytest.mark.parametrize("n", [3_000, 20_000])  # raw values and binned paths
def test_no_drift_window(n: int) -> None:
    data = frame(n, 2)
    config = DriftConfig(exact_max_rows=5_000)
    window = observe(data, reference())
    report = compare(reference(), window, numeric_values(data, reference()), config)
    assert not report.drift and report.drifted == [] and report.n_rows == n
    methods = {report.columns["a"].results["ks"].method}
    assert methods == ({"raw"} if n <= 5_000 else {"binned"})
    assert all(col.reason for col in report.columns.values())


@pytest.mark.parametrize("n", [3_000, 20_000])
def test_injected_drift_names_the_shifted_columns(n: int) -> None:
    data = frame(n, 3, shift=0.5, shares=(0.3, 0.3, 0.4))
    report = compare(reference(), observe(data, reference()), numeric_values(data, reference()))
    assert report.drift and report.drifted == ["a", "k"]
    a = report.columns["a"]
    assert a.adjusted_p_value is not None and a.adjusted_p_value < 0.05
    assert a.effect_size is not None and a.effect_size >= 0.1 and "ks adjusted p=" in a.reason
    json.dumps(report.to_dict(), allow_nan=False)  # plain JSON, no NaN


def test_one_unseen_category_is_finite_and_not_flagged() -> None:
    data = frame(2_000, 4)
    data.loc[0, "k"] = "never-seen"
    report = compare(reference(), observe(data, reference()))
    k = report.columns["k"]
    assert not k.drift and not report.drift
    assert k.p_value is not None and k.p_value > 0 and np.isfinite(k.results["chisquare"].statistic)
    assert k.effect_size is not None and k.effect_size < 0.01


def test_all_missing_column_is_flagged_without_exception() -> None:
    data = frame(2_000, 5)
    data["a"] = np.nan
    data["k"] = None
    report = compare(reference(), observe(data, reference()), numeric_values(data, reference()))
    assert report.drift and report.drifted == ["a", "k"]
    for name in ("a", "k"):
        col = report.columns[name]
        assert col.all_missing and col.reason == "all values missing"
        assert col.missing_share_window == 1.0 and set(col.results) == {"missing"}
    json.dumps(report.to_dict(), allow_nan=False)


def test_a_column_absent_from_the_window_data_is_all_missing() -> None:
    data = frame(500, 6).drop(columns=["c"])
    report = compare(reference(), observe(data, reference()))
    assert report.drifted == ["c"] and report.columns["c"].reason == "all values missing"


def test_empty_window() -> None:
    data = frame(0, 7)
    report = compare(reference(), observe(data, reference()), numeric_values(data, reference()))
    assert not report.drift and report.n_rows == 0
    assert {c.reason for c in report.columns.values()} == {"empty window"}
    assert not any(c.drift for c in report.columns.values())


def test_missing_share_change_is_flagged_above_its_floor() -> None:
    data = frame(3_000, 8)
    data.loc[:899, "b"] = np.nan  # 30% missing
    report = compare(reference(), observe(data, reference()))
    b = report.columns["b"]
    assert report.drifted == ["b"] and "missing share 0.0% -> 30.0%" in b.reason
    small = frame(3_000, 9)
    small.loc[:20, "b"] = np.nan  # 0.7%: significant, but below the 5-point floor
    col = compare(reference(), observe(small, reference())).columns["b"]
    assert not col.drift and col.missing_adjusted_p_value is not None
    assert col.missing_adjusted_p_value < 0.05 and "below the 5% floor" in col.reason


def test_huge_window_tiny_shift_is_significant_but_below_the_effect_size_floor() -> None:
    rng = np.random.default_rng(10)
    ref = build_profile(pd.DataFrame({"x": rng.normal(0.0, 1.0, 1_000_000)}))
    window = observe(pd.DataFrame({"x": rng.normal(0.01, 1.0, 1_000_000)}), ref)
    col = compare(ref, window).columns["x"]
    assert col.results["ks"].method == "binned"
    assert col.adjusted_p_value is not None and col.adjusted_p_value < 1e-3
    assert col.effect_size is not None and col.effect_size < 0.01
    assert not col.drift and "psi=" in col.reason and "< 0.1" in col.reason


def test_holm_against_a_hand_example() -> None:
    # sorted: 0.01*4, 0.02*3, 0.03*2, 0.04*1 -> 0.04, 0.06, 0.06 (running max), 0.06
    p = np.array([0.03, 0.01, 0.04, 0.02])
    assert holm(p) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([]).size == 0


def test_benjamini_hochberg_equals_scipy() -> None:
    rng = np.random.default_rng(11)
    for m in (1, 2, 7, 50):
        p = np.r_[rng.uniform(0, 1, m), rng.uniform(0, 1e-3, 3)]
        rng.shuffle(p)
        assert benjamini_hochberg(p) == pytest.approx(
            stats.false_discovery_control(p, method="bh"), rel=1e-12
        )
    ties = np.array([0.01, 0.01, 0.04, 0.04, 0.5])
    assert benjamini_hochberg(ties) == pytest.approx(stats.false_discovery_control(ties))


def test_bh_config_is_used() -> None:
    data = frame(3_000, 3, shift=0.5, shares=(0.3, 0.3, 0.4))
    report = compare(reference(), observe(data, reference()), config=DriftConfig(correction="bh"))
    assert report.correction == "bh" and report.drifted == ["a", "k"]


def test_invalid_inputs_raise_invalid_argument() -> None:
    with pytest.raises(InvalidArgument):
        DriftConfig(alpha=1.5)
    with pytest.raises(InvalidArgument):
        adjust([0.1], "bonferroni")
    with pytest.raises(InvalidArgument):
        compare(
            reference(),
            observe(frame(10, 1), reference()),
            config=DriftConfig(tests={"numeric": ("nope",)}),
        )
    data = frame(100, 12)
    with pytest.raises(InvalidArgument, match="finite values"):
        compare(reference(), observe(data, reference()), {"a": np.zeros(3)})
    with pytest.raises(InvalidArgument, match="lacks columns"):
        compare(reference(), DatasetProfile(rows=1, columns={}))
