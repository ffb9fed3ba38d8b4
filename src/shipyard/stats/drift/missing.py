"""Two-proportion z-test of the share of missing values (None/NaN), for every column kind.

Missing values are kept out of every distribution test (PSI, KS, chi-squared, ...), so a pipeline
that starts dropping a field, or a join that stops matching, is caught here and only here. With
``m1`` missing of ``n1`` reference rows and ``m2`` missing of ``n2`` window rows::

    s1 = m1 / n1,  s2 = m2 / n2,  s = (m1 + m2) / (n1 + n2)            (pooled share under H0)
    z  = (s2 - s1) / sqrt(s * (1 - s) * (1/n1 + 1/n2))
    p  = 2 * (1 - Phi(|z|))                                            (two-sided)
    statistic = |s2 - s1|                                              (absolute change of share)

The statistic is the absolute difference of shares rather than ``z`` because that is what the
verdict compares with its floor (default 0.05, i.e. five percentage points): with large windows a
change of 0.1 points is significant but not worth an alert. ``TestOutcome.to_dict`` and the verdict
report both shares, so the direction is not lost.

Degenerate cases never raise:

* pooled share 0 or 1 (nothing missing anywhere, or everything missing on both sides): the
  standard error is 0 and there is no evidence of change: ``p = 1``;
* an entirely missing window column (``s2 = 1``): the formula applies as usual (a finite ``z``
  whenever the reference has present values) and the verdict flags the column itself;
* a side with no rows at all (empty window): ``NO_DATA``.

The normal approximation is adequate when the expected missing and present counts are each
at least ~5 on both sides; below that the p-value is approximate, which matters little because the
verdict also requires the share to move by the floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from shipyard.stats.drift.base import (
    CATEGORICAL,
    NO_DATA,
    NUMERIC,
    FloatArray,
    TestOutcome,
)
from shipyard.stats.profile import ColumnProfile


def missing_share(column: ColumnProfile) -> float:
    """The share of missing values in a column profile (0.0 for a column of no rows)."""
    return column.missing / column.rows if column.rows else 0.0


def two_proportion_z(m1: int, n1: int, m2: int, n2: int) -> tuple[float, float]:
    """``(z, two-sided p)`` of the pooled two-proportion z-test; ``(0, 1)`` when undefined."""
    pooled = (m1 + m2) / (n1 + n2)
    se = float(np.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)))
    if se == 0.0:
        return 0.0, 1.0
    z = (m2 / n2 - m1 / n1) / se
    return z, float(2.0 * stats.norm.sf(abs(z)))


@dataclass
class MissingShare:
    """Two-proportion z-test of the missing share; statistic = |window share - reference share|."""

    name: str = "missing"
    kinds: tuple[str, ...] = (NUMERIC, CATEGORICAL)
    gives_p_value: bool = False
    """Its p-value is about missing values only: it cannot be the primary test."""

    def compute(
        self,
        reference: ColumnProfile,
        window: ColumnProfile,
        window_values: FloatArray | None,
    ) -> TestOutcome:
        if reference.rows == 0 or window.rows == 0:
            return NO_DATA
        _, p = two_proportion_z(reference.missing, reference.rows, window.missing, window.rows)
        statistic = abs(missing_share(window) - missing_share(reference))
        return TestOutcome(statistic=statistic, p_value=p, method="z-test")
