"""Drift statistics from profiles against exact values computed with scipy from the raw data.

The reference profile is all the drift code keeps of the reference (never its rows), so these tests
pin how close that gets: KS statistic within 0.01, Wasserstein within 5%, PSI and Jensen-Shannon
within 0.01 of the values scipy computes from every raw reference and window value, on 2,000- and
50,000-row windows, unchanged and shifted, heavy tails included.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from shipyard.stats.drift import DriftConfig, compare
from shipyard.stats.drift.psi import PSI_EPSILON
from shipyard.stats.profile import DatasetProfile, build_profile, numeric_values, observe

Rng = np.random.Generator
SHAPES: dict[str, Callable[[Rng, int, float], np.ndarray]] = {
    "normal": lambda rng, n, shift: rng.normal(shift, 1.0, n),
    "student_t3": lambda rng, n, shift: rng.standard_t(3, n) + shift * np.sqrt(3.0),
    "lognormal": lambda rng, n, shift: rng.lognormal(shift, 1.0, n),
    "zero_inflated": lambda rng, n, shift: np.where(
        rng.random(n) < 0.3, 0.0, rng.exponential(1.0 + shift, n)
    ),
}
DISCRETE: dict[str, Callable[[Rng, int, float], np.ndarray]] = {
    "flag": lambda rng, n, shift: (rng.random(n) < 0.1 + shift).astype(np.int64),
    "level": lambda rng, n, shift: rng.choice(
        [1, 2, 3, 4, 5], n, p=[0.1, 0.2, 0.4 - shift, 0.2, 0.1 + shift]
    ),
}


def frame(rng: Rng, n: int, shift: float) -> pd.DataFrame:
    return pd.DataFrame({name: make(rng, n, shift) for name, make in (SHAPES | DISCRETE).items()})


def exact_psi(ref: np.ndarray, win: np.ndarray) -> float:
    r = np.maximum(ref / ref.sum(), PSI_EPSILON)
    w = np.maximum(win / win.sum(), PSI_EPSILON)
    r, w = r / r.sum(), w / w.sum()
    return float(np.sum((w - r) * np.log(w / r)))


def decile_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts on the reference deciles from raw values, with underflow and overflow bins."""
    inner = np.histogram(values[(values >= edges[0]) & (values <= edges[-1])], bins=edges)[0]
    return np.concatenate([[(values < edges[0]).sum()], inner, [(values > edges[-1]).sum()]])


def coarse_counts(ref: np.ndarray, win: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts on the reference deciles from raw values; a value holding >= 5% of the reference
    (the zero-inflated column's 0) is a bin of its own and the other values share the remaining
    bins by their deciles (as many bins as tenths of the reference they hold)."""
    values, counts = np.unique(ref, return_counts=True)
    masses = values[counts >= 0.05 * ref.size]
    if masses.size == 0:
        edges = np.quantile(ref, np.linspace(0, 1, 11))
        return decile_counts(ref, edges), decile_counts(win, edges)
    rest_ref, rest_win = ref[~np.isin(ref, masses)], win[~np.isin(win, masses)]
    bins = round(10 * rest_ref.size / ref.size)
    edges = np.quantile(rest_ref, np.linspace(0, 1, bins + 1))
    mass_ref = [(ref == m).sum() for m in masses]
    mass_win = [(win == m).sum() for m in masses]
    # the masses lie below the other values here (zeros, then positive values)
    assert masses.max() < rest_ref.min()
    return (
        np.concatenate([mass_ref, decile_counts(rest_ref, edges)]),
        np.concatenate([mass_win, decile_counts(rest_win, edges)]),
    )


@pytest.fixture(scope="module")
def reference_data() -> pd.DataFrame:
    return frame(np.random.default_rng(21), 50_000, 0.0)


@pytest.fixture(scope="module")
def reference(reference_data: pd.DataFrame) -> DatasetProfile:
    return build_profile(reference_data)


@pytest.mark.parametrize("n", [2_000, 50_000])
@pytest.mark.parametrize("shift", [0.0, 0.2])
@pytest.mark.parametrize("seed", [1, 2])
def test_statistics_match_scipy_on_the_raw_data(
    reference_data: pd.DataFrame, reference: DatasetProfile, n: int, shift: float, seed: int
) -> None:
    current = frame(np.random.default_rng(seed), n, shift)
    report = compare(reference, observe(current, reference), numeric_values(current, reference))
    for name in SHAPES:
        ref, win = reference_data[name].to_numpy(), current[name].to_numpy()
        results = report.columns[name].results
        assert results["ks"].method == "raw"
        ks = stats.ks_2samp(ref, win).statistic
        assert results["ks"].statistic == pytest.approx(ks, abs=0.01), name
        w1 = stats.wasserstein_distance(ref, win) / ref.std(ddof=1)
        assert results["wasserstein"].statistic == pytest.approx(w1, rel=0.05), name
        ref_counts, win_counts = coarse_counts(ref, win)
        assert results["psi"].statistic == pytest.approx(
            exact_psi(ref_counts, win_counts), abs=0.01
        ), name
        js = jensenshannon(ref_counts, win_counts, base=2)
        assert results["jensenshannon"].statistic == pytest.approx(js, abs=0.01), name
    for name in DISCRETE:
        ref, win = reference_data[name].to_numpy(), current[name].to_numpy()
        levels = np.union1d(ref, win)
        ref_counts = np.array([(ref == v).sum() for v in levels])
        win_counts = np.array([(win == v).sum() for v in levels])
        results = report.columns[name].results
        assert results["psi"].statistic == pytest.approx(
            exact_psi(ref_counts, win_counts), abs=0.01
        ), name
        js = jensenshannon(ref_counts, win_counts, base=2)
        assert results["jensenshannon"].statistic == pytest.approx(js, abs=0.01), name
        assert report.columns[name].kind == "categorical"


@pytest.mark.parametrize("shift", [0.0, 0.2])
def test_large_windows_binned_on_the_sketch_stay_close(
    reference_data: pd.DataFrame, reference: DatasetProfile, shift: float
) -> None:
    """Windows above ``exact_max_rows`` are compared on the sketch alone (no raw values)."""
    current = frame(np.random.default_rng(3), 200_000, shift)
    report = compare(reference, observe(current, reference), None, DriftConfig(exact_max_rows=0))
    for name in SHAPES:
        ref, win = reference_data[name].to_numpy(), current[name].to_numpy()
        results = report.columns[name].results
        assert results["ks"].method == "binned" and results["wasserstein"].method == "sketch"
        ks = stats.ks_2samp(ref, win).statistic
        assert results["ks"].statistic == pytest.approx(ks, abs=0.01), name
        if shift:  # unchanged: W1 is sampling noise of ~0.005 sd, below what bins can resolve
            w1 = stats.wasserstein_distance(ref, win) / ref.std(ddof=1)
            assert results["wasserstein"].statistic == pytest.approx(w1, rel=0.05), name
