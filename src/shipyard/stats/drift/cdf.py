"""Piecewise-linear CDFs of profiles and raw values, and the distances KS and Wasserstein take on them.

A numerical profile's ``sketch`` histogram is read as a CDF given by knots ``(x, F)``: ``x`` is
non-decreasing, ``F`` is linear between knots, and a repeated ``x`` is a jump (a point mass).

* A **window** sketch spreads each bin's mass evenly over the bin, the underflow bin over
  ``[window min, first edge]`` and the overflow bin over ``[last edge, window max]`` (the profile's
  moments keep the finite min and max). Infinite values sit in the under/overflow bins and are
  therefore treated as the finite extremes.
* A **reference** sketch whose edges are reference values (``NumericProfile.sketch_on_values``)
  knows more: each bin holds one value *at its left edge* (a jump of one value), the rest spread
  evenly, and the last bin one value at its right edge too (the maximum). A bin ``[v, nextafter(v))``
  holds a repeated value, all of it at ``v``. This makes the CDF exact at every edge and removes most
  of the error of the sparse tails, where a bin holds one or two values.
* **Raw values** (small windows) give the empirical CDF exactly: a jump at every distinct value.

``cdf_distance`` integrates ``|F1 - F2|`` between two such CDFs exactly, segment by segment, and
``ks_distance`` takes ``sup |F_ref - F_window|`` of a reference CDF against raw values exactly.
"""

from __future__ import annotations

import numpy as np

from shipyard.stats.drift.base import FloatArray
from shipyard.stats.profile import NumericProfile


def sketch_cdf(profile: NumericProfile) -> tuple[FloatArray, FloatArray]:
    """Knots ``(x, F)`` of the CDF of ``profile.sketch`` (see the module docstring)."""
    edges = np.asarray(profile.sketch.edges, dtype=np.float64)
    counts = np.asarray(profile.sketch.counts, dtype=np.float64)
    total = counts.sum()
    lo = edges[0] if profile.moments.min is None else min(edges[0], profile.moments.min)
    hi = edges[-1] if profile.moments.max is None else max(edges[-1], profile.moments.max)
    inner = counts[1:-1]
    before = counts[0] + np.concatenate([[0.0], np.cumsum(inner)])  # mass below each edge
    if not profile.sketch_on_values:
        x = np.concatenate([[lo], edges, [hi]])
        f = np.concatenate([[0.0], before, [total]]) / total
        return x, f
    on_value = np.ones(edges.size, dtype=bool)  # is the edge a reference value?
    on_value[1:] = edges[1:] != np.nextafter(edges[:-1], np.inf)
    jump = np.zeros(edges.size)
    jump[:-1] = np.where(on_value[:-1], np.minimum(inner, 1.0), 0.0)
    if edges.size >= 2 and on_value[-1] and inner[-1] - jump[-2] >= 1.0:
        before[-1] -= 1.0  # the maximum sits on the last edge
        jump[-1] = 1.0
    x = np.concatenate([[lo], np.repeat(edges, 2), [hi]])
    f = np.concatenate([[0.0], np.column_stack([before, before + jump]).ravel(), [total]]) / total
    return x, f


def values_cdf(values: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Knots of the empirical CDF of raw values: at each distinct value, ``F(v-)`` then ``F(v)``."""
    ordered = np.sort(values)
    distinct = np.unique(ordered)
    left = np.searchsorted(ordered, distinct, "left") / ordered.size
    right = np.searchsorted(ordered, distinct, "right") / ordered.size
    return np.repeat(distinct, 2), np.column_stack([left, right]).ravel()


def cdf_limit(x: FloatArray, f: FloatArray, t: FloatArray, side: str) -> FloatArray:
    """F(t+) (``side="right"``) or F(t-) (``"left"``) of the polyline through ``(x, f)``.

    ``x`` is non-decreasing; a repeated knot is a jump (a point mass), whose first value is the
    left limit and last value the right limit. F is 0 below ``x[0]`` and 1 above ``x[-1]``.
    """
    upper = np.searchsorted(x, t, side="right" if side == "right" else "left")
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
    a = cdf_limit(x1, f1, left, "right") - cdf_limit(x2, f2, left, "right")
    b = cdf_limit(x1, f1, right, "left") - cdf_limit(x2, f2, right, "left")
    abs_sum = np.abs(a) + np.abs(b)
    # |d| is linear on each segment: a trapezoid, or two triangles when d changes sign.
    crossing = np.divide(a * a + b * b, 2 * abs_sum, out=np.zeros_like(a), where=abs_sum > 0)
    per_unit = np.where(a * b >= 0, abs_sum / 2, crossing)
    return float(np.sum(per_unit * (right - left)))


def ks_distance(x: FloatArray, f: FloatArray, values: FloatArray) -> float:
    """``sup |F(t) - F_values(t)|`` of the CDF through ``(x, f)`` against raw values, exactly.

    The empirical CDF is constant between distinct values and F is monotone, so the supremum is
    reached at a value: compared from the right with ``F`` just past it (``nextafter``, so a point
    mass of the reference at the same value counts in full) and from the left.
    """
    ordered = np.sort(values)
    distinct = np.unique(ordered)
    below = np.searchsorted(ordered, distinct, "left") / ordered.size
    upto = np.searchsorted(ordered, distinct, "right") / ordered.size
    right = cdf_limit(x, f, np.nextafter(distinct, np.inf), "right")
    left = cdf_limit(x, f, distinct, "left")
    return float(max(np.max(np.abs(right - upto)), np.max(np.abs(left - below))))
