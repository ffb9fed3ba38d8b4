"""Jensen-Shannon distance (base 2) between the binned reference and window distributions.

Definition, for bin shares ``p`` (reference) and ``q`` (window) and their mixture ``m = (p + q) / 2``::

    JSD(p, q) = 1/2 * KL(p || m) + 1/2 * KL(q || m)      (KL with log base 2)
    statistic = sqrt(JSD)                                 (the Jensen-Shannon *distance*)

Why: unlike PSI or KL, it is bounded, symmetric, and defined for empty bins without smoothing
(``m`` is positive wherever ``p`` or ``q`` is, and ``0 * log 0 = 0``), and its square root is a
metric. With base-2 logarithms the distance lies in [0, 1]: 0 for identical distributions, 1 for
disjoint supports, so thresholds read the same for every column. Note that Evidently computes it
with ``scipy.spatial.distance.jensenshannon`` at its default natural-log base, whose range is
[0, sqrt(ln 2)] ~ [0, 0.833]: an Evidently threshold ``t`` corresponds to ``t / sqrt(ln 2)`` here
(Evidently's default 0.1 is ~0.12 in base 2).

Bins (``base.binned_counts``), the same as PSI's: numerical columns use the coarse histogram on the
reference's quantile edges including the underflow and overflow bins; categorical columns use the
reference's top-K categories plus ``other`` (which, in a window, includes unseen categories).
Missing values are excluded (tested by the ``missing`` test).

There is no p-value: it is reported as a distance. ``scipy.spatial.distance.jensenshannon(p, q,
base=2)`` gives the same number; the few lines below avoid its normalisation copies and warnings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shipyard.stats.drift.base import (
    CATEGORICAL,
    NO_DATA,
    NUMERIC,
    FloatArray,
    TestOutcome,
    binned_counts,
)
from shipyard.stats.profile import ColumnProfile


def _kl_to(p: FloatArray, m: FloatArray) -> float:
    """KL(p || m) in bits, where ``m > 0`` wherever ``p > 0``."""
    positive = p > 0
    return float(np.sum(p[positive] * np.log2(p[positive] / m[positive])))


def js_distance(reference_counts: FloatArray, window_counts: FloatArray) -> float:
    """Jensen-Shannon distance, base 2, of two count vectors on the same bins."""
    p = reference_counts / reference_counts.sum()
    q = window_counts / window_counts.sum()
    m = (p + q) / 2
    divergence = (_kl_to(p, m) + _kl_to(q, m)) / 2
    return float(np.sqrt(min(max(divergence, 0.0), 1.0)))


@dataclass
class JensenShannon:
    """Jensen-Shannon distance (base 2, range [0, 1]) on the coarse bins or categories + other."""

    name: str = "jensenshannon"
    kinds: tuple[str, ...] = (NUMERIC, CATEGORICAL)
    gives_p_value: bool = False
    """Not a significance test: it cannot be the primary test (``--stattest``)."""

    def compute(
        self,
        reference: ColumnProfile,
        window: ColumnProfile,
        window_values: FloatArray | None,
    ) -> TestOutcome:
        ref, win = binned_counts(reference, window)
        if ref.sum() == 0 or win.sum() == 0:
            return NO_DATA
        return TestOutcome(statistic=js_distance(ref, win), p_value=None, method="binned")
