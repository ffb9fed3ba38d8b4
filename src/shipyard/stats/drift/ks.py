"""Two-sample Kolmogorov-Smirnov test: the primary (significance) test of numerical columns.

Statistic: ``D = sup_x |F_ref(x) - F_win(x)|``, the largest gap between the two empirical CDFs.
Under H0 (same continuous distribution) ``D`` is distribution-free, which is why KS is the default
significance test: it needs no binning choice and sees a shift anywhere in the range.

Three ways to compute it, reported in ``TestOutcome.method``:

* ``"exact"``: the window's raw finite values are given (windows up to ``exact_max_rows``) and the
  reference profile's ``sample`` holds every finite reference value (references of at most
  ``DEFAULT_SAMPLE_SIZE`` = 1000 finite values): ``scipy.stats.ks_2samp(sample, window_values)``, the
  textbook test on all the data.
* ``"raw"``: the window's raw values are given and the reference is its sketch, whose CDF is exact
  at every edge (edges are reference values, see ``profile``) and linear in between:
  ``D = sup |F_ref - F_win|`` against the window's empirical CDF, computed exactly
  (``cdf.ks_distance``); it is within ~0.001 of ``ks_2samp`` on the full reference.
* ``"binned"``: otherwise (large windows). Both CDFs are evaluated at the sketch's edges, including
  the underflow and overflow bins, and ``D`` is their largest gap: a lower bound of the raw-data
  one, short by at most the mass of one bin (at most ~1/128 of the reference, far less in the bulk).

For "raw" and "binned" the p-value is Smirnov's asymptotic two-sided one with the *real* counts
``n`` (reference) and ``m`` (window), exactly as ``ks_2samp(method="asymp")`` computes it:
``p = kstwo.sf(D, round(n*m/(n+m)))``.

Infinite values are part of the sketch's under/overflow bins (the binned CDFs treat them as values
below/above every edge) but not of the raw values (``window_values`` are finite); missing values
are never part of either: see the ``missing`` test.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

from shipyard.core.errors import InvalidArgument
from shipyard.stats.drift.base import NO_DATA, NUMERIC, FloatArray, TestOutcome
from shipyard.stats.drift.cdf import ks_distance, sketch_cdf
from shipyard.stats.profile import ColumnProfile, NumericProfile


def binned_ks(reference_counts: FloatArray, window_counts: FloatArray) -> tuple[float, float]:
    """``(D, p)`` from two count vectors on the same ordered bins (asymptotic two-sided p)."""
    n, m = float(reference_counts.sum()), float(window_counts.sum())
    f_ref = np.cumsum(reference_counts)[:-1] / n
    f_win = np.cumsum(window_counts)[:-1] / m
    d = float(np.max(np.abs(f_ref - f_win))) if f_ref.size else 0.0
    return d, asymptotic_p(d, n, m)


def asymptotic_p(d: float, n: float, m: float) -> float:
    """Smirnov's asymptotic two-sided p-value of ``D`` for samples of ``n`` and ``m`` values."""
    en = max(1.0, float(np.round(n * m / (n + m))))
    return float(np.clip(stats.kstwo.sf(d, en), 0.0, 1.0))


def exact_ks(sample: FloatArray, window_values: FloatArray) -> tuple[float, float]:
    """``(D, p)`` of ``scipy.stats.ks_2samp`` on raw values (scipy's default ``method="auto"``)."""
    with warnings.catch_warnings():
        # "auto" falls back to the asymptotic p-value when the exact one does not converge (seen
        # on samples equal up to rounding) and warns that it did: that fallback is the method
        warnings.filterwarnings(
            "ignore", "ks_2samp: Exact calculation unsuccessful", category=RuntimeWarning
        )
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
        if window_values is not None and reference.sketch.total > 0:
            values = np.asarray(window_values, dtype=np.float64)
            values = values[np.isfinite(values)]
            if values.size == 0:
                return NO_DATA
            if reference.sample_is_complete:
                d, p = exact_ks(np.asarray(reference.sample, dtype=np.float64), values)
                return TestOutcome(statistic=d, p_value=p, method="exact")
            d = ks_distance(*sketch_cdf(reference), values)
            return TestOutcome(
                statistic=d,
                p_value=asymptotic_p(d, reference.moments.count, values.size),
                method="raw",
            )
        ref = np.asarray(reference.sketch.counts, dtype=np.float64)
        win = np.asarray(window.sketch.counts, dtype=np.float64)
        if ref.sum() == 0 or win.sum() == 0:
            return NO_DATA
        d, p = binned_ks(ref, win)
        return TestOutcome(statistic=d, p_value=p, method="binned")
