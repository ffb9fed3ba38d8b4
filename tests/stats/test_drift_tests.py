"""Each built-in stat test against scipy on the same data, its edge cases, and the plugin hook."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from shipyard.core.plugins import hookimpl
from shipyard.stats.drift import base
from shipyard.stats.drift.base import binned_counts, installed_stattests, stattest_named
from shipyard.stats.drift.cdf import cdf_distance
from shipyard.stats.drift.chisquare import ChiSquare, chi_square, expected_counts
from shipyard.stats.drift.ks import KolmogorovSmirnov
from shipyard.stats.drift.missing import MissingShare
from shipyard.stats.drift.psi import PSI_EPSILON
from shipyard.stats.profile import (
    CategoricalProfile,
    ColumnProfile,
    NumericProfile,
    build_profile,
    observe,
)


def numeric_pair(ref: np.ndarray, win: np.ndarray) -> tuple[NumericProfile, NumericProfile]:
    reference = build_profile(pd.DataFrame({"x": ref}))
    window = observe(pd.DataFrame({"x": win}), reference)
    r, w = reference.columns["x"], window.columns["x"]
    assert isinstance(r, NumericProfile) and isinstance(w, NumericProfile)
    return r, w


def categorical_pair(ref: list[str | None], win: list[str | None]) -> tuple[ColumnProfile, ...]:
    reference = build_profile(pd.DataFrame({"k": pd.Series(ref, dtype=object)}))
    window = observe(pd.DataFrame({"k": pd.Series(win, dtype=object)}), reference)
    return reference.columns["k"], window.columns["k"]


def test_builtins_are_installed_through_the_hook() -> None:
    names = {t.name for t in installed_stattests()}
    assert names >= {"psi", "ks", "wasserstein", "jensenshannon", "chisquare", "missing"}
    assert stattest_named("ks").kinds == ("numeric",)


def test_ks_exact_equals_scipy_when_the_reference_keeps_every_value() -> None:
    rng = np.random.default_rng(1)
    ref, win = rng.normal(0, 1, 800), rng.normal(0.2, 1, 300)
    r, w = numeric_pair(ref, win)
    out = stattest_named("ks").compute(r, w, win)
    expected = stats.ks_2samp(ref, win)
    assert out.method == "exact" and sorted(r.sample) == sorted(ref.tolist())
    assert out.statistic == pytest.approx(expected.statistic, abs=1e-15)
    assert out.p_value == pytest.approx(expected.pvalue, rel=1e-12)


def test_ks_on_raw_window_values_matches_scipy_on_the_full_reference() -> None:
    rng = np.random.default_rng(1)
    ref, win = rng.normal(0, 1, 5_000), rng.normal(0.2, 1, 300)
    r, w = numeric_pair(ref, win)
    out = stattest_named("ks").compute(r, w, win)
    expected = stats.ks_2samp(ref, win, method="asymp")
    assert out.method == "raw" and r.sample == ()  # a 5,000-value reference keeps its sketch only
    assert out.statistic == pytest.approx(expected.statistic, abs=2e-3)
    assert out.p_value == pytest.approx(expected.pvalue, rel=0.1)


def test_ks_binned_equals_scipy_asymptotic_when_values_sit_on_the_edges() -> None:
    rng = np.random.default_rng(2)
    # 60 integer levels (too many to be profiled per value) and one far value: every value is an edge
    ref = np.append(rng.integers(0, 60, 20_000), 100).astype(float)
    win = rng.choice(60, 8_000, p=[0.14] + [0.86 / 59] * 59).astype(float)
    r, w = numeric_pair(ref, win)
    out = KolmogorovSmirnov().compute(r, w, None)
    expected = stats.ks_2samp(ref, win, method="asymp")
    assert out.method == "binned"
    assert out.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert out.p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_ks_binned_is_a_close_lower_bound_for_continuous_data() -> None:
    rng = np.random.default_rng(3)
    ref, win = rng.normal(0, 1, 50_000), rng.normal(0.1, 1.1, 20_000)
    r, w = numeric_pair(ref, win)
    out = KolmogorovSmirnov().compute(r, w, None)
    raw = stats.ks_2samp(ref, win).statistic
    assert raw - 0.01 <= out.statistic <= raw + 1e-12


def test_psi_matches_its_formula_and_is_finite_with_empty_bins() -> None:
    rng = np.random.default_rng(4)
    r, w = numeric_pair(rng.normal(0, 1, 10_000), rng.normal(3, 1, 2_000))
    ref, win = binned_counts(r, w)
    assert ref[0] == 0 and ref[-1] == 0 and win[-1] > 0  # under/overflow bins are used
    rs, ws = np.maximum(ref / ref.sum(), PSI_EPSILON), np.maximum(win / win.sum(), PSI_EPSILON)
    rs, ws = rs / rs.sum(), ws / ws.sum()
    out = stattest_named("psi").compute(r, w, None)
    assert np.isfinite(out.statistic) and out.statistic > 1.0 and out.p_value is None
    assert out.statistic == pytest.approx(np.sum((ws - rs) * np.log(ws / rs)), rel=1e-12)


def test_categorical_psi_and_js_include_other_and_unseen() -> None:
    ref = ["a"] * 600 + ["b"] * 300 + ["c"] * 100
    win = ["a"] * 300 + ["b"] * 300 + ["zzz"] * 400
    r, w = categorical_pair(ref, win)  # type: ignore[arg-type]
    refc, winc = binned_counts(r, w)
    assert refc.tolist() == [600, 300, 100, 0] and winc.tolist() == [300, 300, 0, 400]
    js = stattest_named("jensenshannon").compute(r, w, None)
    assert js.statistic == pytest.approx(jensenshannon(refc, winc, base=2), rel=1e-12)
    assert np.isfinite(stattest_named("psi").compute(r, w, None).statistic)


def test_jensenshannon_numeric_equals_scipy_base_2_and_is_bounded() -> None:
    rng = np.random.default_rng(5)
    r, w = numeric_pair(rng.normal(0, 1, 10_000), rng.normal(0.5, 1, 3_000))
    out = stattest_named("jensenshannon").compute(r, w, None)
    assert out.statistic == pytest.approx(jensenshannon(*binned_counts(r, w), base=2), rel=1e-12)
    far = numeric_pair(rng.normal(0, 1, 1_000), rng.normal(100, 1, 1_000))
    assert stattest_named("jensenshannon").compute(*far, None).statistic == pytest.approx(1.0)


def test_wasserstein_exact_equals_scipy_and_sketch_is_close() -> None:
    rng = np.random.default_rng(6)
    ref, win = rng.normal(10, 2, 20_000), rng.normal(11, 2.5, 3_000)
    r, w = numeric_pair(ref, win)
    test = stattest_named("wasserstein")
    raw = stats.wasserstein_distance(ref, win) / r.moments.std
    on_values = test.compute(r, w, win)
    assert on_values.method == "raw" and on_values.statistic == pytest.approx(raw, rel=0.01)
    sketch = test.compute(r, w, None)
    assert sketch.method == "sketch" and sketch.statistic == pytest.approx(raw, rel=0.03)


def test_cdf_distance_is_exact_for_uniforms_and_point_masses() -> None:
    unit = (np.array([0.0, 1.0]), np.array([0.0, 1.0]))
    shifted = (np.array([0.5, 1.5]), np.array([0.0, 1.0]))
    assert cdf_distance(*unit, *shifted) == pytest.approx(0.5)
    at3 = (np.array([3.0, 3.0]), np.array([0.0, 1.0]))
    at4 = (np.array([4.0, 4.0]), np.array([0.0, 1.0]))
    assert cdf_distance(*at3, *at4) == pytest.approx(1.0)
    assert cdf_distance(*at3, *unit) == pytest.approx(2.5)  # mean of U(0,1) is 0.5


def test_wasserstein_constant_reference_uses_the_std_floor() -> None:
    ref = 3.0 + 1e-9 * np.arange(100)  # (nearly) constant, yet 100 distinct values: not discrete
    r, w = numeric_pair(ref, np.full(50, 3.01))
    out = stattest_named("wasserstein").compute(r, w, np.full(50, 3.01))
    assert out.method == "exact" and out.statistic == pytest.approx(0.01 / 1e-3, rel=1e-4)


def test_chisquare_equals_scipy_on_the_smoothed_expected_counts() -> None:
    ref = ["a"] * 5_000 + ["b"] * 3_000 + ["c"] * 2_000
    rng = np.random.default_rng(7)
    win = list(rng.choice(["a", "b", "c"], 4_000, p=[0.45, 0.33, 0.22]))
    r, w = categorical_pair(ref, win)  # type: ignore[arg-type]
    obs, refc = binned_counts(r, w)[1], binned_counts(r, w)[0]
    exp = (refc + 0.5) / (refc + 0.5).sum() * obs.sum()
    plain = ChiSquare(finite_reference=False).compute(r, w, None)
    expected = stats.chisquare(obs, exp)
    assert plain.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert plain.p_value == pytest.approx(expected.pvalue, rel=1e-12)
    scale = 1 + obs.sum() / refc.sum()  # default: the reference's own sampling error
    default = stattest_named("chisquare").compute(r, w, None)
    assert default.p_value == pytest.approx(stats.chisquare(obs / scale, exp / scale).pvalue)


def test_chisquare_keeps_its_error_rate_when_the_window_is_as_large_as_the_reference() -> None:
    rng = np.random.default_rng(8)
    shares = np.array([0.4, 0.3, 0.2, 0.1])
    refs, wins = rng.multinomial(2_000, shares, 2_000), rng.multinomial(2_000, shares, 2_000)
    corrected = np.array(
        [
            chi_square(w, expected_counts(r.astype(float), 2_000.0), 2.0)[1]
            for r, w in zip(refs, wins, strict=True)
        ]
    )
    plain = np.array(
        [
            chi_square(w, expected_counts(r.astype(float), 2_000.0))[1]
            for r, w in zip(refs, wins, strict=True)
        ]
    )
    assert 0.03 < np.mean(corrected < 0.05) < 0.07
    assert np.mean(plain < 0.05) > 0.2  # the plain goodness-of-fit test over-rejects


def test_one_unseen_category_gives_a_finite_positive_p_value() -> None:
    ref = ["a"] * 700 + ["b"] * 300
    r, w = categorical_pair(ref, ["a"] * 699 + ["b"] * 300 + ["new"])  # type: ignore[arg-type]
    assert isinstance(w, CategoricalProfile) and w.unseen == {"new": 1}
    out = stattest_named("chisquare").compute(r, w, None)
    assert np.isfinite(out.statistic) and out.p_value is not None and out.p_value > 0


def test_missing_share_z_test_equals_the_2x2_chi_square() -> None:
    ref = [None] * 50 + ["a"] * 950
    win = [None] * 90 + ["a"] * 910
    r, w = categorical_pair(ref, win)
    out = MissingShare().compute(r, w, None)
    table = np.array([[50, 950], [90, 910]])
    expected = stats.chi2_contingency(table, correction=False)
    assert out.statistic == pytest.approx(0.04)
    assert out.p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_missing_share_of_an_entirely_missing_window_is_finite() -> None:
    r, w = numeric_pair(np.r_[np.full(10, np.nan), np.arange(990.0)], np.full(20, np.nan))
    out = MissingShare().compute(r, w, None)
    assert out.statistic == pytest.approx(0.99) and out.p_value is not None
    assert np.isfinite(out.statistic) and 0 <= out.p_value < 1e-6
    nothing_missing = numeric_pair(np.arange(100.0), np.arange(50.0))
    assert MissingShare().compute(*nothing_missing, None).p_value == 1.0


def test_tests_return_no_data_for_an_all_missing_window() -> None:
    r, w = numeric_pair(np.arange(100.0), np.full(5, np.nan))
    for name in ("psi", "ks", "wasserstein", "jensenshannon"):
        out = stattest_named(name).compute(r, w, None)
        assert out.method == "no-data" and np.isnan(out.statistic) and out.p_value is None


@dataclass
class MeanShift:
    name: str = "mean-shift"
    kinds: tuple[str, ...] = ("numeric",)

    def compute(
        self, reference: ColumnProfile, window: ColumnProfile, window_values: np.ndarray | None
    ) -> base.TestOutcome:
        assert isinstance(reference, NumericProfile) and isinstance(window, NumericProfile)
        shift = abs(window.moments.mean - reference.moments.mean) / reference.moments.std
        return base.TestOutcome(statistic=shift, p_value=None, method="moments")


class ThirdPartyPlugin:
    @hookimpl
    def shipyard_stattests(self) -> list[base.StatTest]:
        return [MeanShift()]


def test_a_third_party_stat_test_registered_through_the_hook_is_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pm = base.stattest_manager(ThirdPartyPlugin())  # a fresh manager: global state untouched
    found = base.stattests_of(pm)
    assert found[0].name == "mean-shift"  # plugins registered later are asked first
    assert {t.name for t in found} >= {"ks", "psi", "mean-shift"}
    monkeypatch.setattr(base, "stattest_manager", lambda: pm)
    installed_stattests.cache_clear()
    try:
        assert "mean-shift" in {t.name for t in installed_stattests()}
        r, w = numeric_pair(np.arange(100.0), np.arange(100.0) + 29.0)
        assert stattest_named("mean-shift", "numeric").compute(r, w, None).statistic > 0.9
    finally:
        installed_stattests.cache_clear()
    monkeypatch.undo()
    assert "mean-shift" not in {t.name for t in installed_stattests()}
