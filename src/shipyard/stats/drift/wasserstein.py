"""Normalised Wasserstein-1 distance: how far, in reference standard deviations, the mass moved.

Definition::

    W1(ref, win) = integral |F_ref(x) - F_win(x)| dx = integral_0^1 |Q_ref(u) - Q_win(u)| du
    statistic    = W1 / max(std_ref, 0.001)

W1 is the average distance a unit of probability mass has to travel to turn one distribution into
the other, in the column's units; dividing by the reference standard deviation makes it unit-free
("a shift of 0.3 sigma"), so one threshold can serve every column (Evidently's ``wasserstein``
test does the same, with 0.1 as its default threshold). Unlike KS it grows with *how far* values
moved, not only with how many, and unlike PSI it does not saturate once the mass leaves a bin.

The floor of 0.001 on the standard deviation (Evidently's value) keeps the statistic finite for a
constant reference column; it is in the column's units, so a constant column whose values are all
tiny will read as large relative moves, which is the right call for a column that "never changes".

Two ways to compute it, reported in ``TestOutcome.method``:

* ``"exact"`` / ``"exact-sample"``: the window's raw finite values are given (small windows) and
  the reference profile keeps a sample: ``scipy.stats.wasserstein_distance(sample, values)``;
  "exact" when the sample is the whole reference, "exact-sample" when it is a 1000-value subset.
* ``"sketch"``: otherwise, from the ``sketch`` histograms (100 bins on the reference percentiles,
  plus under/overflow). Each histogram is read as a piecewise-uniform distribution: mass spread
  evenly within each bin, the underflow bin spread over ``[window min, first edge]`` and the overflow
  bin over ``[last edge, window max]`` (the profile's moments keep the finite min and max). The
  integral of ``|F_ref - F_win|`` between these piecewise-linear CDFs is then computed exactly,
  segment by segment. The error against raw data is bounded by the within-bin spread, i.e. about
  1% of the reference mass times the bin width. Infinite values sit in the under/overflow bins and
  are therefore treated as the finite extremes.

There is no p-value: W1 is reported as a distance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from shipyard.core.errors import InvalidArgument
from shipyard.stats.drift.base import NO_DATA, NUMERIC, FloatArray, TestOutcome
from shipyard.stats.profile import ColumnProfile, NumericProfile

STD_FLOOR = 1e-3
"""Floor on the reference standard deviation used to normalise W1 (Evidently's 0.001)."""


def sketch_cdf(profile: NumericProfile) -> tuple[FloatArray, FloatArray]:
    """Knots ``(x, F)`` of the piecewise-linear CDF of ``profile.sketch`` (see module docstring)."""
    edges = np.asarray(profile.sketch.edges, dtype=np.float64)
    counts = np.asarray(profile.sketch.counts, dtype=np.float64)
    lo = edges[0] if profile.moments.min is None else min(edges[0], profile.moments.min)
    hi = edges[-1] if profile.moments.max is None else max(edges[-1], profile.moments.max)
    x = np.concatenate([[lo], edges, [hi]])
    f = np.concatenate([[0.0], np.cumsum(counts)]) / counts.sum()
    return x, f


def _cdf_limit(x: FloatArray, f: FloatArray, t: FloatArray, side: str) -> FloatArray:
    """F(t+) (``side="right"``) or F(t-) (``"left"``) of the polyline through ``(x, f)``.

    ``x`` is non-decreasing; a repeated knot is a jump (a point mass), whose first value is the
    left limit and last value the right limit. F is 0 below ``x[0]`` and 1 above ``x[-1]``.
    """
    if side == "right":
        upper = np.searchsorted(x, t, side="right")
        lower = upper - 1
    else:
        upper = np.searchsorted(x, t, side="left")
        lower = upper - 1
    lo = np.clip(lower, 0, x.size - 1)
    hi = np.clip(upper, 0, x.size - 1)
    width = x[hi] - x[lo]
    frac = np.divide(t - x[lo], width, out=np.zeros_like(t), where=width > 0)
    value = f[lo] + (f[hi] - f[lo]) * frac
    value = np.where(lower < 0, 0.0, value)
    return np.where(upper >= x.size, 1.0, value)


def cdf_distance(x1: FloatArray, f1: FloatArray, x2: FloatArray, f2: FloatArray) -> float:
    """``integral |F1 - F2| dx`` of two piecewise-linear CDFs given by their knots, exactly."""
    grid = np.unique(np.concatenate([x1, x2]))
    if grid.size < 2:
        return 0.0
    left, right = grid[:-1], grid[1:]
    a = _cdf_limit(x1, f1, left, "right") - _cdf_limit(x2, f2, left, "right")
    b = _cdf_limit(x1, f1, right, "left") - _cdf_limit(x2, f2, right, "left")
    abs_sum = np.abs(a) + np.abs(b)
    # |d| is linear on each segment: a trapezoid, or two triangles when d changes sign.
    crossing = np.divide(a * a + b * b, 2 * abs_sum, out=np.zeros_like(a), where=abs_sum > 0)
    per_unit = np.where(a * b >= 0, abs_sum / 2, crossing)
    return float(np.sum(per_unit * (right - left)))


@dataclass
class Wasserstein:
    """W1 distance normalised by the reference standard deviation (floored at ``std_floor``)."""

    name: str = "wasserstein"
    kinds: tuple[str, ...] = (NUMERIC,)
    std_floor: float = STD_FLOOR

    def compute(
        self,
        reference: ColumnProfile,
        window: ColumnProfile,
        window_values: FloatArray | None,
    ) -> TestOutcome:
        if not isinstance(reference, NumericProfile) or not isinstance(window, NumericProfile):
            raise InvalidArgument("the Wasserstein distance needs numerical columns")
        if reference.sketch.edges != window.sketch.edges:
            raise InvalidArgument("window profile was not observed on the reference's sketch edges")
        scale = max(reference.moments.std, self.std_floor)
        if window_values is not None and reference.sample:
            values = np.asarray(window_values, dtype=np.float64)
            values = values[np.isfinite(values)]
            if values.size == 0:
                return NO_DATA
            w1 = float(stats.wasserstein_distance(np.asarray(reference.sample), values))
            method = "exact" if reference.sample_is_complete else "exact-sample"
            return TestOutcome(statistic=w1 / scale, p_value=None, method=method)
        if reference.sketch.total == 0 or window.sketch.total == 0:
            return NO_DATA
        w1 = cdf_distance(*sketch_cdf(reference), *sketch_cdf(window))
        return TestOutcome(statistic=w1 / scale, p_value=None, method="sketch")
