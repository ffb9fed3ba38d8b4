"""Pearson chi-squared goodness-of-fit test: the primary (significance) test of categorical columns.

Bins: the reference's top-K categories, then ``other`` (values outside the top-K; in a window this
includes categories the reference never saw). Missing values are excluded (``missing`` test).

Observed counts ``O_i`` are the window's. Expected counts come from the reference shares, smoothed
with a pseudo-count of ``+0.5`` per bin (the posterior mean under a Jeffreys Dirichlet(1/2) prior)::

    r_i = (c_i + 0.5) / (sum_j c_j + 0.5 * k)          c_i: reference counts, k: number of bins
    E_i = n_window * r_i
    X2  = sum_i (O_i - E_i)^2 / E_i,    df = k - 1,    p = chi2.sf(X2, df)

Why smoothing: the plain test takes ``E_i = 0`` for a bin the reference never filled, typically
``other`` when the reference has fewer than K categories, and then a *single* unseen value makes
``X2`` infinite and ``p = 0``, flagging drift on one typo. With the pseudo-count, one unseen value
in a window of ``n`` rows against a reference of ``N`` rows contributes about
``(1 - 0.5 n/N)^2 / (0.5 n/N)``: finite, and a p-value that is small only when ``n/N`` is small
(a window much smaller than the reference, where one new value is genuinely unexpected). The
verdict's effect-size floor (PSI >= 0.1) keeps such a lone value from being called drift: its PSI
term is ~0.002 for one value in 1000. The pseudo-count changes expected shares by at most
``0.5 / N`` per bin, negligible for any realistic reference.

Finite reference (``finite_reference=True``, the default). Pearson's goodness-of-fit test treats
the reference shares as the *true* ones, but they are themselves estimated from ``N`` reference
rows. Comparing two samples, ``Var(O_i/n - c_i/N) = r_i (1 - r_i) (1/n + 1/N)`` instead of
``r_i (1 - r_i) / n``, so under H0 the plain ``X2`` is distributed as ``(1 + n/N) * chi2(k - 1)``:
for a window as large as the reference the real false-alarm rate at a nominal 5% is ~17% with
2 categories and ~70% with 20. The statistic is therefore divided by ``1 + n/N`` before taking
the p-value (asymptotically the two-sample homogeneity test), which changes nothing when the
reference is much larger than the window and keeps the error rate at ``alpha`` when it is not::

    statistic = X2 / (1 + n/N),    p = chi2.sf(statistic, k - 1)

This is exactly ``scipy.stats.chisquare(O / (1 + n/N), E / (1 + n/N))``, and with
``finite_reference=False`` exactly ``scipy.stats.chisquare(O, E)`` (both checked by the tests);
the expected counts sum to ``n_window`` by construction, as scipy requires. A reference with a
single category and no ``other`` values still has two bins, so ``df >= 1`` always.

Like every chi-squared test, the p-value is an asymptotic approximation that overstates the
evidence when expected counts are below ~5 (a rare category, or one unseen value against a large
reference): it stays finite and positive, and the verdict's PSI floor decides whether it matters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from shipyard.core.errors import InvalidArgument
from shipyard.stats.drift.base import (
    CATEGORICAL,
    NO_DATA,
    FloatArray,
    TestOutcome,
    binned_counts,
)
from shipyard.stats.profile import CategoricalProfile, ColumnProfile

PSEUDO_COUNT = 0.5
"""Added to every reference bin before taking shares (Jeffreys prior); see the module docstring."""


def expected_counts(
    reference_counts: FloatArray, n_window: float, pseudo_count: float = PSEUDO_COUNT
) -> FloatArray:
    """Window counts expected from the smoothed reference shares; they sum to ``n_window``."""
    smoothed = reference_counts + pseudo_count
    expected: FloatArray = n_window * smoothed / smoothed.sum()
    return expected


def chi_square(
    observed: FloatArray, expected: FloatArray, scale: float = 1.0
) -> tuple[float, float]:
    """Pearson's ``(X2 / scale, p)`` with ``len(observed) - 1`` degrees of freedom."""
    statistic = float(np.sum((observed - expected) ** 2 / expected)) / scale
    df = max(observed.size - 1, 1)
    return statistic, float(stats.chi2.sf(statistic, df))


@dataclass
class ChiSquare:
    """Chi-squared test of window category counts against smoothed reference shares."""

    name: str = "chisquare"
    kinds: tuple[str, ...] = (CATEGORICAL,)
    pseudo_count: float = PSEUDO_COUNT
    finite_reference: bool = True
    """Divide the statistic by ``1 + n/N`` for the reference's own sampling error (see above)."""

    def compute(
        self,
        reference: ColumnProfile,
        window: ColumnProfile,
        window_values: FloatArray | None,
    ) -> TestOutcome:
        if not isinstance(reference, CategoricalProfile) or not isinstance(
            window, CategoricalProfile
        ):
            raise InvalidArgument("the chi-squared test needs categorical columns")
        ref, win = binned_counts(reference, window)
        if ref.sum() == 0 or win.sum() == 0:
            return NO_DATA
        n, big_n = float(win.sum()), float(ref.sum())
        scale = 1.0 + n / big_n if self.finite_reference else 1.0
        statistic, p = chi_square(win, expected_counts(ref, n, self.pseudo_count), scale)
        return TestOutcome(statistic=statistic, p_value=p, method="binned")
