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

Three ways to compute it, reported in ``TestOutcome.method``:

* ``"exact"``: the window's raw finite values are given (windows up to ``exact_max_rows``) and the
  reference profile keeps all its finite values (``sample``, references of at most 1000 values):
  ``scipy.stats.wasserstein_distance(sample, values)``.
* ``"raw"``: the window's raw values are given, the reference is its sketch: the integral of
  ``|F_ref - F_win|`` between the reference sketch's CDF and the window's empirical CDF
  (``cdf.sketch_cdf``, ``cdf.values_cdf``), computed exactly segment by segment. The reference CDF
  is exact at every sketch edge (edges are reference values, see ``profile``), so the result is
  within ~1% of scipy on the full reference (tested, heavy tails included).
* ``"sketch"``: otherwise (large windows), between the two sketches' piecewise-linear CDFs
  (``cdf.sketch_cdf``); the window's mass is spread evenly within each bin, which is what the
  sketch cannot tell apart.

There is no p-value: W1 is reported as a distance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from shipyard.core.errors import InvalidArgument
from shipyard.stats.drift.base import NO_DATA, NUMERIC, FloatArray, TestOutcome
from shipyard.stats.drift.cdf import cdf_distance, sketch_cdf, values_cdf
from shipyard.stats.profile import ColumnProfile, NumericProfile

STD_FLOOR = 1e-3
"""Floor on the reference standard deviation used to normalise W1 (Evidently's 0.001)."""


@dataclass
class Wasserstein:
    """W1 distance normalised by the reference standard deviation (floored at ``std_floor``)."""

    name: str = "wasserstein"
    kinds: tuple[str, ...] = (NUMERIC,)
    gives_p_value: bool = False
    """Not a significance test: it cannot be the primary test (``--stattest``)."""
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
        if reference.sketch.total == 0:
            return NO_DATA
        if window_values is not None:
            values = np.asarray(window_values, dtype=np.float64)
            values = values[np.isfinite(values)]
            if values.size == 0:
                return NO_DATA
            if reference.sample_is_complete:
                w1 = float(stats.wasserstein_distance(np.asarray(reference.sample), values))
                return TestOutcome(statistic=w1 / scale, p_value=None, method="exact")
            w1 = cdf_distance(*sketch_cdf(reference), *values_cdf(values))
            return TestOutcome(statistic=w1 / scale, p_value=None, method="raw")
        if window.sketch.total == 0:
            return NO_DATA
        w1 = cdf_distance(*sketch_cdf(reference), *sketch_cdf(window))
        return TestOutcome(statistic=w1 / scale, p_value=None, method="sketch")
