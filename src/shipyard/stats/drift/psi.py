"""Population Stability Index (PSI): the effect size of the drift verdict.

Definition, on bins ``i`` shared by the reference (shares ``r_i``) and the window (shares ``w_i``)::

    PSI = sum_i (w_i - r_i) * ln(w_i / r_i)

i.e. the symmetrised Kullback-Leibler divergence KL(w||r) + KL(r||w). It is 0 for identical binned
distributions and grows without bound; the customary reading (Siddiqi, *Credit Risk Scorecards*,
2006) is < 0.1 no meaningful shift, 0.1-0.25 moderate, > 0.25 major. That is why the verdict's
default effect-size floor is 0.1: a shift below it is not acted on however small its p-value.

Bins (``base.binned_counts``):

* numerical columns: the coarse histogram on the reference's ``bins`` quantile edges (default 10,
  so each reference bin holds ~10% of the reference) plus the underflow and overflow bins. The
  reference's own under/overflow bins are empty, so values outside the reference range in a window
  are exactly what they measure; with equal-mass bins every bin weighs the same in the sum.
* categorical columns: the reference's top-K categories plus ``other``; a window's ``other``
  includes categories never seen in the reference.

Missing values get **no bin**. They are tested by the ``missing`` test (a two-proportion z-test with
its own floor on the change of share), and a missing bin here would count the same change twice,
once as significance and once as effect size. PSI therefore describes the distribution of the
values that are present.

Smoothing: an empty bin would make a term infinite (``ln(w/0)``) or undefined. Shares below
``epsilon = 1e-4`` are raised to it and the shares renormalised (``base.smoothed_shares``), so PSI is
always finite. 1e-4 is the value Evidently and most scorecard tooling use; it bounds one bin's term
by about ``w * ln(w / 1e-4)``: a window with 5% of its values above the reference maximum scores
~0.31 from that bin alone, which is drift by any reading, while a single stray value among 1000
scores ~0.002. A larger epsilon would hide genuinely new ranges; a smaller one would let one
outlier dominate.

PSI has no p-value here: its sampling distribution depends on bin counts and sizes, and the
verdict takes significance from the primary test (KS or chi-squared) instead.
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
    smoothed_shares,
)
from shipyard.stats.profile import ColumnProfile

PSI_EPSILON = 1e-4
"""Floor on a bin's share before taking logs (see the module docstring)."""


def psi(
    reference_counts: FloatArray, window_counts: FloatArray, epsilon: float = PSI_EPSILON
) -> float:
    """PSI of two count vectors on the same bins, with ``epsilon`` smoothing of empty bins."""
    r = smoothed_shares(reference_counts, epsilon)
    w = smoothed_shares(window_counts, epsilon)
    return float(np.sum((w - r) * np.log(w / r)))


@dataclass
class PSI:
    """Population Stability Index on the coarse bins (numeric) or categories + other."""

    name: str = "psi"
    kinds: tuple[str, ...] = (NUMERIC, CATEGORICAL)
    gives_p_value: bool = False
    """Not a significance test: it cannot be the primary test (``--stattest``)."""
    epsilon: float = PSI_EPSILON

    def compute(
        self,
        reference: ColumnProfile,
        window: ColumnProfile,
        window_values: FloatArray | None,
    ) -> TestOutcome:
        ref, win = binned_counts(reference, window)
        if ref.sum() == 0 or win.sum() == 0:
            return NO_DATA
        return TestOutcome(statistic=psi(ref, win, self.epsilon), p_value=None, method="binned")
