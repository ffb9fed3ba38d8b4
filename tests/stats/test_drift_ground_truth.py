"""Ground truth: known unchanged and shifted columns, at 50,000 and 2,000 current rows, many seeds.

The reference has 50,000 rows. Unchanged columns cover the shapes that broke earlier versions
(heavy tails, a 0/1 flag, a few integer levels, many categories, a point mass: 40% zeros then
continuous values); each shifted column changes in one way a model would notice. Every shifted column must be flagged and no unchanged one, for every seed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from shipyard.stats.drift import compare
from shipyard.stats.profile import build_profile, numeric_values, observe

Rng = np.random.Generator
CATEGORIES = [f"c{i:02d}" for i in range(30)]
CATEGORY_SHARES = np.linspace(1.0, 3.0, 30) / np.linspace(1.0, 3.0, 30).sum()

UNCHANGED: dict[str, Callable[[Rng, int], np.ndarray]] = {
    "normal": lambda rng, n: rng.normal(10.0, 2.0, n),
    "student_t3": lambda rng, n: rng.standard_t(3, n),
    "lognormal": lambda rng, n: rng.lognormal(0.0, 1.0, n),
    "flag": lambda rng, n: (rng.random(n) < 0.1).astype(np.int64),
    "level": lambda rng, n: rng.choice([1, 2, 3, 4, 5], n, p=[0.1, 0.2, 0.4, 0.2, 0.1]),
    "category": lambda rng, n: rng.choice(CATEGORIES, n, p=CATEGORY_SHARES),
    "point_mass": lambda rng, n: _point_mass(rng, n, 0.4),
}


def _point_mass(rng: Rng, n: int, share: float) -> np.ndarray:
    """``share`` zeros, then continuous values (a spend, a count of minutes)."""
    return np.where(rng.random(n) < share, 0.0, rng.lognormal(3.0, 1.0, n))


def _with_missing(values: np.ndarray, rng: Rng, share: float) -> np.ndarray:
    out = values.astype(np.float64)
    out[rng.random(out.size) < share] = np.nan
    return out


def _with_new_category(rng: Rng, n: int) -> np.ndarray:
    values = rng.choice(CATEGORIES, n, p=CATEGORY_SHARES).astype(object)
    values[rng.random(n) < 0.1] = "new"
    return values


# reference generator, current generator
SHIFTED: dict[str, tuple[Callable[[Rng, int], np.ndarray], Callable[[Rng, int], np.ndarray]]] = {
    "mean_shift": (
        lambda rng, n: rng.normal(0.0, 1.0, n),
        lambda rng, n: rng.normal(0.5, 1.0, n),
    ),
    "variance_x2": (
        lambda rng, n: rng.normal(0.0, 1.0, n),
        lambda rng, n: rng.normal(0.0, np.sqrt(2.0), n),
    ),
    "flag_10_to_50": (
        lambda rng, n: (rng.random(n) < 0.1).astype(np.int64),
        lambda rng, n: (rng.random(n) < 0.5).astype(np.int64),
    ),
    "new_level": (
        lambda rng, n: rng.choice([1, 2, 3, 4, 5], n, p=[0.1, 0.2, 0.4, 0.2, 0.1]),
        lambda rng, n: rng.choice([1, 2, 3, 4, 5, 6], n, p=[0.1, 0.2, 0.3, 0.2, 0.1, 0.1]),
    ),
    "new_category": (
        lambda rng, n: rng.choice(CATEGORIES, n, p=CATEGORY_SHARES),
        _with_new_category,
    ),
    "point_mass_40_to_60": (
        lambda rng, n: _point_mass(rng, n, 0.4),
        lambda rng, n: _point_mass(rng, n, 0.6),
    ),
    "missing_0_to_20": (
        lambda rng, n: rng.normal(0.0, 1.0, n),
        lambda rng, n: _with_missing(rng.normal(0.0, 1.0, n), rng, 0.2),
    ),
}


def datasets(seed: int, n_current: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    reference = {name: make(rng, 50_000) for name, make in UNCHANGED.items()}
    reference |= {name: pair[0](rng, 50_000) for name, pair in SHIFTED.items()}
    current = {name: make(rng, n_current) for name, make in UNCHANGED.items()}
    current |= {name: pair[1](rng, n_current) for name, pair in SHIFTED.items()}
    return pd.DataFrame(reference), pd.DataFrame(current)


@pytest.mark.parametrize("n_current", [50_000, 2_000])
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_every_shifted_column_and_no_unchanged_column_is_flagged(seed: int, n_current: int) -> None:
    ref_data, current = datasets(seed, n_current)
    reference = build_profile(ref_data)
    report = compare(reference, observe(current, reference), numeric_values(current, reference))
    assert sorted(report.drifted) == sorted(SHIFTED), {
        name: col.reason for name, col in report.columns.items()
    }
    assert report.drift
