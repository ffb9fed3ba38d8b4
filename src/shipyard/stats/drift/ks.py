"""Two-sample Kolmogorov-Smirnov test: the primary (significance) test of numerical columns.

Statistic: ``D = sup_x |F_ref(x) - F_win(x)|``, the largest gap between the two empirical CDFs.
Under H0 (same continuous distribution) ``D`` is distribution-free, which is why KS is the default
significance test: it needs no binning choice and sees a shift anywhere in the range.

Three ways to compute it, reported in ``TestOutcome.method``:

* ``"exact"``: the window's raw finite values are given (windows up to ``exact_max_rows``) and the
  reference profile's ``sample`` holds every finite reference value (references of up to
  ``DEFAULT_SAMPLE_SIZE`` = 1000 finite values). Then ``scipy.stats.ks_2samp(sample, window_values)``
  is the textbook test on all the data (scipy picks the exact null distribution for small samples
  and Smirnov's asymptotic one otherwise).
* ``"exact-sample"``: as above, but the sample is a uniform random subset of the reference (seeded,
  without replacement). The test is still valid (the sample is i.i.d. from the reference
  distribution); its power is that of a 1000-value reference, which is ample for windows of a
  few thousand rows.
* ``"binned"``: otherwise (large window, or a profile without a sample). Both CDFs are evaluated at
  the reference's 101 percentile edges of the ``sketch`` histogram, including the underflow and
  overflow bins, and ``D`` is their largest gap. Since the CDFs are only compared at the edges this
  ``D`` is a lower bound of the raw-data one, short by at most the mass of one bin (~1% of the
  reference plus the window's share of that bin), so the test is slightly conservative. The p-value
  is Smirnov's asymptotic two-sided one with the *real* counts ``n`` (reference) and ``m``
  (window), exactly as ``ks_2samp(method="asymp")`` computes it:
  ``p = kstwo.sf(D, round(n*m/(n+m)))``.

Infinite values are part of the sketch's under/overflow bins (the binned CDFs treat them as values
below/above every edge) but not of the raw values (``window_values`` are finite); missing values
are never part of either: see the ``missing`` test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from shipyard.core.errors import InvalidArgument
from shipyard.stats.drift.base import NO_DATA, NUMERIC, FloatArray, TestOutcome
from shipyard.stats.profile import ColumnProfile, NumericProfile


def binned_ks(reference_counts: FloatArray, window_counts: FloatArray) -> tuple[float, float]:
    """``(D, p)`` from two count vectors on the same ordered bins (asymptotic two-sided p)."""
    n, m = float(reference_counts.sum()), float(window_counts.sum())
    f_ref = np.cumsum(reference_counts)[:-1] / n
    f_win = np.cumsum(window_counts)[:-1] / m
    d = float(np.max(np.abs(f_ref - f_win))) if f_ref.size else 0.0
    en = max(1.0, float(np.round(n * m / (n + m))))
    p = float(np.clip(stats.kstwo.sf(d, en), 0.0, 1.0))
    return d, p


def exact_ks(sample: FloatArray, window_values: FloatArray) -> tuple[float, float]:
    """``(D, p)`` of ``scipy.stats.ks_2samp`` on raw values (scipy's default ``method="auto"``)."""
    result = stats.ks_2samp(sample, window_values)
    return float(result.statistic), float(result.pvalue)


@dataclass
class KolmogorovSmirnov:
    """Two-sample KS, exact on raw values for small windows, else on the binned sketch CDF."""

    name: str = "ks"
    kinds: tuple[str, ...] = (NUMERIC,)

    def compute(
        self,
        reference: ColumnProfile,
        window: ColumnProfile,
        window_values: FloatArray | None,
    ) -> TestOutcome:
        if not isinstance(reference, NumericProfile) or not isinstance(window, NumericProfile):
            raise InvalidArgument("the KS test needs numerical columns")
        if reference.sketch.edges != window.sketch.edges:
            raise InvalidArgument("window profile was not observed on the reference's sketch edges")
        if window_values is not None and reference.sample:
            values = np.asarray(window_values, dtype=np.float64)
            values = values[np.isfinite(values)]
            if values.size == 0:
                return NO_DATA
            d, p = exact_ks(np.asarray(reference.sample, dtype=np.float64), values)
            method = "exact" if reference.sample_is_complete else "exact-sample"
            return TestOutcome(statistic=d, p_value=p, method=method)
        ref = np.asarray(reference.sketch.counts, dtype=np.float64)
        win = np.asarray(window.sketch.counts, dtype=np.float64)
        if ref.sum() == 0 or win.sum() == 0:
            return NO_DATA
        d, p = binned_ks(ref, win)
        return TestOutcome(statistic=d, p_value=p, method="binned")
