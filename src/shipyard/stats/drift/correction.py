"""Multiple-testing corrections of a family of p-values: Holm (FWER) and Benjamini-Hochberg (FDR).

With ``m`` p-values sorted increasingly, ``p_(1) <= ... <= p_(m)``:

* **Holm** (1979), step-down, controls the family-wise error rate (the probability of any false
  rejection) at alpha under any dependence between the tests::

      adj_(i) = min(1, max_{j <= i} (m - j + 1) * p_(j))

  Rejecting ``adj < alpha`` is the same as Holm's procedure (reject ``p_(1) < alpha/m``, then
  ``p_(2) < alpha/(m-1)``, ... until the first failure). It dominates Bonferroni (``m * p``).
* **Benjamini-Hochberg** (1995), step-up, controls the false discovery rate (the expected share of
  false rejections among rejections) under independence or positive dependence::

      adj_(i) = min(1, min_{j >= i} m * p_(j) / j)

  identical to ``scipy.stats.false_discovery_control(p, method="bh")``.

Both return adjusted p-values in the input order; an empty family gives an empty array.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from shipyard.core.errors import InvalidArgument

FloatArray = npt.NDArray[np.float64]


def _unsort(sorted_values: FloatArray, order: npt.NDArray[np.intp]) -> FloatArray:
    out = np.empty_like(sorted_values)
    out[order] = np.minimum(sorted_values, 1.0)
    return out


def holm(p_values: npt.ArrayLike) -> FloatArray:
    """Holm step-down adjusted p-values (family-wise error rate)."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    factors = m - np.arange(m, dtype=np.float64)  # m, m-1, ..., 1
    return _unsort(np.maximum.accumulate(p[order] * factors), order)


def benjamini_hochberg(p_values: npt.ArrayLike) -> FloatArray:
    """Benjamini-Hochberg step-up adjusted p-values (false discovery rate)."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1, dtype=np.float64)
    return _unsort(np.minimum.accumulate(scaled[::-1])[::-1], order)


def adjust(p_values: npt.ArrayLike, method: Literal["holm", "bh"] | str) -> FloatArray:
    """Adjusted p-values by ``method``: "holm" or "bh"."""
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    raise InvalidArgument(f"unknown correction {method!r}; use 'holm' or 'bh'")
