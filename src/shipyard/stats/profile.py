"""Mergeable per-column summaries of a dataset: the baseline that monitoring diffs against.

A *reference* profile is built once from training or validation data (``build_profile``): it fixes the
bin edges of every numerical column at the reference quantiles, and the categories of every categorical
column (top-K by frequency). A *window* profile of later data is computed on those same edges and
categories (``observe``), so two windows merge by adding counts and every drift statistic compares
like with like without re-reading the reference rows.

Numerical columns keep two histograms: a coarse one on ``bins`` reference-quantile edges (used for
PSI and Jensen-Shannon) and a fine one, the ``sketch``, that stands for the reference's whole CDF in
Kolmogorov-Smirnov and Wasserstein. Both have an underflow and an overflow bin; missing values
(None/NaN) are counted apart, infinities are counted and binned into under/overflow. Moments merge with
Chan's parallel formula.

The sketch's edges are reference *values* (order statistics), at most ``DEFAULT_SKETCH_EDGES`` of them,
chosen adaptively (``_sketch_edges``): the minimum, the maximum and the 16 most extreme values at each
end, a 128-step grid of ranks, then repeated splits of the bin with the largest ``width * sqrt(count)``
(the bound of a bin's contribution to the Wasserstein error), so heavy tails get as many edges as they
need. A value repeated in the reference gets a bin of its own (``[v, nextafter(v))``), so point masses
stay exact. Because every edge is a reference value, the reference CDF is known exactly at every
edge, and each bin holds one value at its left edge (``sketch_on_values``): against raw data, KS is
within ~0.001 and Wasserstein within ~1% of ``scipy.stats.ks_2samp`` / ``wasserstein_distance`` on
the full reference (tested on 2,000- and 50,000-row windows, heavy tails included). 512 edges cost
~15 KB of JSON per column. Windows are binned on the same edges, so they merge by adding counts.

**Discrete numerical columns.** A numerical reference column with at most ``DISCRETE_MAX_LEVELS``
distinct finite values (a 0/1 flag, a rating), or integer-valued with at most ``INTEGER_MAX_LEVELS``
levels, is profiled as a ``CategoricalProfile`` whose ``levels`` are those values: its windows are
counted per value (values the reference never had go to ``other`` and ``unseen``), and it is tested
like a categorical column (chi-squared, PSI and Jensen-Shannon on per-value bins). Quantile bins on
such a column collapse into one or two bins, which hid a 0/1 flag going from 10% to 50% ones.

A reference numerical column also keeps ``quantiles`` (101 percentiles) and, when it has at most
``DEFAULT_SAMPLE_SIZE`` finite values, all of them in ``sample`` (then KS and Wasserstein run the
textbook two-sample tests on the raw reference). Both are dropped by ``merge``: a merge of windows has
no such reference-only summaries. Profiles written by earlier versions (a 101-edge sketch and a
1000-value random sample) still load and are tested on their sketch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_BINS = 10
DEFAULT_SKETCH_EDGES = 512
DEFAULT_TOP_K = 50
DEFAULT_SAMPLE_SIZE = 1000
DISCRETE_MAX_LEVELS = 20
"""Numerical reference columns with at most this many distinct values are profiled per value."""
INTEGER_MAX_LEVELS = 50
"""... and integer-valued ones with at most this many."""
POINT_MASS_BINS = 2
"""A reference value holding at least ``1 / (POINT_MASS_BINS * bins)`` of a numerical column's
values gets a coarse bin of its own (``_quantile_edges``)."""
SKETCH_TAIL = 16
"""The most extreme reference values at each end that are always sketch edges."""
SKETCH_GRID = 128
_TICKS_PER_SECOND = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Batch: TypeAlias = "pd.DataFrame | pa.Table | pa.RecordBatch"
"""Data to profile: a pandas DataFrame, or Arrow data: a table, a record batch, or any object with
their ``schema``, ``column(name)`` and ``len()`` (a file read one column at a time on demand)."""
ArrowColumn: TypeAlias = "pa.Array | pa.ChunkedArray"
Column: TypeAlias = "pd.Series | pa.Array | pa.ChunkedArray"


@dataclass(frozen=True)
class Moments:
    """Count, mean and sum of squared deviations of the finite values; mergeable."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float | None = None
    max: float | None = None

    @classmethod
    def of(cls, finite: FloatArray) -> Moments:
        """Moments of finite values in any order."""
        if finite.size == 0:
            return cls()
        return replace(cls.of_sorted(finite), min=float(finite.min()), max=float(finite.max()))

    @classmethod
    def of_sorted(cls, finite: FloatArray) -> Moments:
        """Moments of sorted finite values (the extremes are the ends)."""
        if finite.size == 0:
            return cls()
        mean = float(finite.mean())
        deviations = finite - mean
        np.square(deviations, out=deviations)
        return cls(
            count=int(finite.size),
            mean=mean,
            m2=float(deviations.sum()),
            min=float(finite[0]),
            max=float(finite[-1]),
        )

    def merge(self, other: Moments) -> Moments:
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        n = self.count + other.count
        delta = other.mean - self.mean
        return Moments(
            count=n,
            mean=self.mean + delta * other.count / n,
            m2=self.m2 + other.m2 + delta * delta * self.count * other.count / n,
            min=min(self.min, other.min),  # type: ignore[type-var]
            max=max(self.max, other.max),  # type: ignore[type-var]
        )

    @property
    def std(self) -> float:
        return float(np.sqrt(self.m2 / (self.count - 1))) if self.count > 1 else 0.0


@dataclass(frozen=True)
class Histogram:
    """Counts on fixed edges: ``counts[0]`` is underflow, ``counts[-1]`` overflow, the rest are bins.

    Bins are closed on the left, and the last bin is closed on both sides, so the reference's maximum
    falls inside the histogram.
    """

    edges: tuple[float, ...]
    counts: tuple[int, ...]

    @classmethod
    def empty(cls, edges: tuple[float, ...]) -> Histogram:
        return cls(edges=edges, counts=(0,) * (len(edges) + 1))

    @classmethod
    def of(cls, values: FloatArray, edges: tuple[float, ...]) -> Histogram:
        return cls.of_sorted(np.sort(values), edges)

    @classmethod
    def of_sorted(cls, ordered: FloatArray, edges: tuple[float, ...]) -> Histogram:
        """Counts of already-sorted values: the edges are searched in the values (O(bins log n)),
        not every value in the edges — one sort serves both histograms of a column."""
        edge_arr = np.asarray(edges, dtype=np.float64)
        below = np.searchsorted(ordered, edge_arr, side="left")  # values < edge[i]
        upto_last = int(np.searchsorted(ordered, edge_arr[-1], side="right"))  # values <= last edge
        bins = np.diff(below)
        if bins.size:
            bins[-1] = upto_last - below[-2]  # the last bin is closed on the right
        counts = [int(below[0]), *bins.tolist(), int(ordered.size - upto_last)]
        return cls(edges=edges, counts=tuple(counts))

    def merge(self, other: Histogram) -> Histogram:
        if self.edges != other.edges:
            raise ValueError("cannot merge histograms with different edges")
        if len(self.counts) != len(other.counts):
            raise ValueError("cannot merge histograms with different numbers of bins")
        added = np.add(self.counts, other.counts, dtype=np.int64)
        return replace(self, counts=tuple(added.tolist()))

    @property
    def total(self) -> int:
        return sum(self.counts)


def _quantile_edges(finite: FloatArray, n_bins: int) -> tuple[float, ...]:
    """Edges of ``n_bins`` equal-mass bins of ``finite`` (sorted), a point mass in a bin of its own.

    A value holding at least half a bin's share of the values (``POINT_MASS_BINS``; 40% zeros,
    say) gets the bin ``[v, nextafter(v))`` and the other values share the other bins by their own
    quantiles, about ``n_bins`` times their share of them. Plain quantiles would coincide on it and
    merge the mass with its neighbours into one wide bin, so a change of the mass would be diluted.
    """
    n = finite.size
    if n == 0:
        return (0.0, 0.0)
    # a run of >= n / (2 n_bins) equal values spans at least two points of this rank grid
    grid = np.unique(finite[np.round(np.linspace(0, n - 1, 4 * n_bins + 1)).astype(np.intp)])
    runs = np.searchsorted(finite, grid, "right") - np.searchsorted(finite, grid, "left")
    masses = grid[runs * POINT_MASS_BINS * n_bins >= n]
    rest = finite[~np.isin(finite, masses)] if masses.size else finite
    parts = [masses, np.nextafter(masses, np.inf)]
    if rest.size:
        rest_bins = max(1, round(n_bins * rest.size / n))
        parts.append(np.quantile(rest, np.linspace(0.0, 1.0, rest_bins + 1)))
    edges = np.unique(np.concatenate(parts))
    if edges.size == 1:
        edges = np.array([edges[0], edges[0]])
    return tuple(edges.tolist())


@dataclass(frozen=True)
class NumericProfile:
    kind: Literal["numeric"]
    rows: int
    missing: int
    infinite: int
    moments: Moments
    histogram: Histogram
    sketch: Histogram
    quantiles: tuple[float, ...] = ()
    """Reference only: the 0, 1, ..., 100th percentiles of the finite values."""
    sample: tuple[float, ...] = ()
    """Reference only: every finite value, sorted, when there are at most ``DEFAULT_SAMPLE_SIZE``.
    (Profiles of earlier versions hold a random 1000-value subset here; it is not used.)"""
    sketch_on_values: bool = False
    """Reference only: the sketch's edges are values of this data, so each non-empty bin holds a
    value at its left edge (and the last bin one at its right edge too); see ``_sketch_edges``."""

    @property
    def sample_is_complete(self) -> bool:
        """Whether ``sample`` holds every finite reference value (then tests on it are exact)."""
        return len(self.sample) == self.moments.count and self.moments.count > 0

    def merge(self, other: NumericProfile) -> NumericProfile:
        return replace(
            self,
            rows=self.rows + other.rows,
            missing=self.missing + other.missing,
            infinite=self.infinite + other.infinite,
            moments=self.moments.merge(other.moments),
            histogram=self.histogram.merge(other.histogram),
            sketch=self.sketch.merge(other.sketch),
            quantiles=(),
            sample=(),
            sketch_on_values=False,
        )


@dataclass(frozen=True)
class CategoricalProfile:
    kind: Literal["categorical"]
    rows: int
    missing: int
    categories: tuple[str, ...]
    """The reference's top-K values, most frequent first; a window keeps the reference's list."""
    counts: tuple[int, ...]
    other: int
    """Values not in ``categories`` (in a window: values the reference never ranked, incl. unseen)."""
    distinct: int
    unseen: Mapping[str, int] = field(default_factory=dict)
    """Window only: the most frequent values absent from the reference's categories."""
    levels: tuple[float, ...] = ()
    """A discrete numerical column: the values behind ``categories`` (same order). Windows match
    numbers against them, so 1, 1.0 and "1" count as the same level."""

    def merge(self, other: CategoricalProfile) -> CategoricalProfile:
        if self.categories != other.categories:
            raise ValueError("cannot merge categorical profiles with different categories")
        unseen = dict(self.unseen)
        for k, v in other.unseen.items():
            unseen[k] = unseen.get(k, 0) + v
        return replace(
            self,
            rows=self.rows + other.rows,
            missing=self.missing + other.missing,
            counts=tuple(a + b for a, b in zip(self.counts, other.counts, strict=True)),
            other=self.other + other.other,
            distinct=max(self.distinct, other.distinct),
            unseen=dict(sorted(unseen.items(), key=lambda kv: -kv[1])[:DEFAULT_TOP_K]),
        )


ColumnProfile = NumericProfile | CategoricalProfile


@dataclass(frozen=True)
class DatasetProfile:
    rows: int
    columns: Mapping[str, ColumnProfile]

    def merge(self, other: DatasetProfile) -> DatasetProfile:
        if set(self.columns) != set(other.columns):
            raise ValueError("cannot merge profiles with different columns")
        merged: dict[str, ColumnProfile] = {}
        for name, col in self.columns.items():
            o = other.columns[name]
            merged[name] = col.merge(o)  # type: ignore[arg-type]
        return DatasetProfile(rows=self.rows + other.rows, columns=merged)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; the inverse of ``from_dict``."""
        from shipyard.stats._codec import _col_to_dict

        return {"rows": self.rows, "columns": {k: _col_to_dict(v) for k, v in self.columns.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetProfile:
        """Read ``to_dict`` output; tolerant of older profiles without ``quantiles``/``sample``."""
        from shipyard.stats._codec import _col_from_dict

        return cls(
            rows=int(data["rows"]),
            columns={k: _col_from_dict(v) for k, v in data["columns"].items()},
        )


def is_numeric_series(series: pd.Series) -> bool:
    return bool(
        (
            pd.api.types.is_numeric_dtype(series.dtype)
            and not pd.api.types.is_bool_dtype(series.dtype)
        )
        or pd.api.types.is_datetime64_any_dtype(series.dtype)
    )


def _as_float(series: pd.Series) -> FloatArray:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        # epoch seconds whatever the resolution (pandas 3 parses strings to microseconds)
        ticks = series.astype("int64").to_numpy(dtype=np.float64)
        ticks[series.isna().to_numpy()] = np.nan
        return ticks / _TICKS_PER_SECOND[series.dt.unit]
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def _numeric(
    values: FloatArray, edges: tuple[float, ...], sketch_edges: tuple[float, ...]
) -> NumericProfile:
    missing = np.isnan(values)
    n_missing = int(np.count_nonzero(missing))
    if n_missing:  # one sort: both histograms are then edge lookups
        ordered = values[~missing]
        ordered.sort()  # in place: the selection is a copy already
    else:
        ordered = np.sort(values)
    # infinities sort to the ends, so the finite values are a slice of the sorted ones
    low = int(np.searchsorted(ordered, -np.inf, side="right"))
    finite = ordered[low : int(np.searchsorted(ordered, np.inf, side="left"))]
    return NumericProfile(
        kind="numeric",
        rows=int(values.size),
        missing=n_missing,
        infinite=int(ordered.size - finite.size),
        moments=Moments.of_sorted(finite),
        histogram=Histogram.of_sorted(ordered, edges),
        sketch=Histogram.of_sorted(ordered, sketch_edges),
    )


def _sketch_edges(ordered: FloatArray, budget: int) -> tuple[float, ...]:
    """At most ``budget`` (+ one per repeated value) edges at values of ``ordered`` (sorted, finite).

    Start from the extremes and a rank grid, then split, round after round, the bins with the largest
    ``width * sqrt(count)``: a bin's share of the error of a piecewise-linear CDF grows with its width
    and with how far its values can stray from a straight line (~ sqrt(count) / n). A value repeated
    in ``ordered`` gets a bin ``[v, nextafter(v))`` of its own (a point mass).
    """
    n = ordered.size
    if n == 0:
        return (0.0, 0.0)
    tail = np.arange(min(SKETCH_TAIL, n))
    idx = np.unique(
        np.concatenate(
            [np.round(np.linspace(0, n - 1, SKETCH_GRID + 1)).astype(np.intp), tail, n - 1 - tail]
        )
    )
    while idx.size < budget:
        left, right = idx[:-1], idx[1:]
        count = right - left
        cost = (ordered[right] - ordered[left]) * np.sqrt(count) * (count > 1)
        worst = np.argsort(cost)[::-1][: min(budget - idx.size, max(1, idx.size // 4))]
        worst = worst[cost[worst] > 0]
        if worst.size == 0:
            break
        idx = np.unique(np.concatenate([idx, (left[worst] + right[worst]) // 2]))
    values = np.unique(ordered[idx])
    repeated = np.searchsorted(ordered, values, "right") - np.searchsorted(ordered, values, "left")
    isolated = np.nextafter(values[repeated > 1], np.inf)
    edges = np.unique(np.concatenate([values, isolated]))
    if edges.size == 1:
        edges = np.array([edges[0], edges[0]])
    return tuple(float(e) for e in edges)


def _reference_numeric(
    values: FloatArray, bins: int, sketch_edges: int, sample_size: int
) -> NumericProfile:
    finite = np.sort(values[np.isfinite(values)])
    profile = _numeric(values, _quantile_edges(finite, bins), _sketch_edges(finite, sketch_edges))
    quantiles = np.quantile(finite, np.linspace(0, 1, 101)) if finite.size else np.array([])
    return replace(
        profile,
        quantiles=tuple(float(q) for q in quantiles),
        sample=tuple(float(v) for v in finite) if finite.size <= sample_size else (),
        sketch_on_values=True,
    )


def level_label(value: float) -> str:
    """How a level of a discrete numerical column is named: ``1`` for 1.0, ``2.5`` for 2.5."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(value)


def _discrete_levels(finite: FloatArray) -> FloatArray | None:
    """The distinct values of a numerical reference column if it is discrete (module docstring)."""
    if finite.size == 0:
        return None
    levels = np.unique(finite)
    if levels.size <= DISCRETE_MAX_LEVELS:
        return levels
    if levels.size <= INTEGER_MAX_LEVELS and bool(np.all(levels == np.round(levels))):
        return levels
    return None


def _reference_discrete(values: FloatArray, levels: FloatArray) -> CategoricalProfile:
    present = values[~np.isnan(values)]
    finite = present[np.isfinite(present)]
    counts = np.bincount(np.searchsorted(levels, finite), minlength=levels.size)
    order = np.argsort(-counts, kind="stable")
    return CategoricalProfile(
        kind="categorical",
        rows=int(values.size),
        missing=int(values.size - present.size),
        categories=tuple(level_label(v) for v in levels[order]),
        counts=tuple(int(c) for c in counts[order]),
        other=int(present.size - finite.size),
        distinct=int(levels.size),
        levels=tuple(float(v) for v in levels[order]),
    )


def _window_discrete(values: FloatArray, reference: CategoricalProfile) -> CategoricalProfile:
    present = values[~np.isnan(values)]
    distinct, distinct_counts = np.unique(present, return_counts=True)  # one sort of the values
    levels = np.asarray(reference.levels, dtype=np.float64)
    order = np.argsort(levels)
    ordered = levels[order]
    pos = np.clip(np.searchsorted(ordered, distinct), 0, ordered.size - 1)
    known = ordered[pos] == distinct
    counts = np.zeros(levels.size, dtype=np.int64)
    counts[order[pos[known]]] = distinct_counts[known]
    rest, rest_counts = distinct[~known], distinct_counts[~known]
    top = np.argsort(-rest_counts, kind="stable")[:DEFAULT_TOP_K]
    return CategoricalProfile(
        kind="categorical",
        rows=int(values.size),
        missing=int(values.size - present.size),
        categories=reference.categories,
        counts=tuple(counts.tolist()),
        other=int(rest_counts.sum()),
        distinct=int((counts > 0).sum() + rest.size),
        unseen={level_label(float(rest[i])): int(rest_counts[i]) for i in top},
        levels=reference.levels,
    )


def _label_counts(column: Column) -> tuple[list[str], IntArray, int]:
    """The distinct values of a categorical column as strings, most frequent first, their counts,
    and how many values are missing. Arrow string columns are counted in Arrow (hashing: no Python
    string but the distinct ones); any other column as pandas strings (``astype(str)``)."""
    if not isinstance(column, pd.Series):
        counted = _arrow_label_counts(column)
        if counted is not None:
            return counted
        column = column.to_pandas()
    mask = column.isna().to_numpy()
    freq = column.astype(str)[~mask].value_counts(sort=True)
    counts: IntArray = np.asarray(freq.to_numpy(), dtype=np.int64)
    return [str(k) for k in freq.index], counts, int(mask.sum())


def _reference_categorical(column: Column, top_k: int) -> CategoricalProfile:
    labels, counts, missing = _label_counts(column)
    return CategoricalProfile(
        kind="categorical",
        rows=len(column),
        missing=missing,
        categories=tuple(labels[:top_k]),
        counts=tuple(counts[:top_k].tolist()),
        other=int(counts[top_k:].sum()),
        distinct=len(labels),
    )


def _window_categorical(column: Column, reference: CategoricalProfile) -> CategoricalProfile:
    labels, counts, missing = _label_counts(column)
    position = {c: i for i, c in enumerate(reference.categories)}
    known = [0] * len(position)
    unseen: dict[str, int] = {}
    other = 0
    for label, count in zip(labels, counts.tolist(), strict=True):
        i = position.get(label)
        if i is not None:
            known[i] = count
        else:
            other += count
            if len(unseen) < DEFAULT_TOP_K:  # labels come most frequent first
                unseen[label] = count
    return CategoricalProfile(
        kind="categorical",
        rows=len(column),
        missing=missing,
        categories=reference.categories,
        counts=tuple(known),
        other=other,
        distinct=len(labels),
        unseen=unseen,
    )


def build_profile(
    data: Batch,
    *,
    bins: int = DEFAULT_BINS,
    sketch_edges: int = DEFAULT_SKETCH_EDGES,
    top_k: int = DEFAULT_TOP_K,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    executor: Executor | None = None,
) -> DatasetProfile:
    """Profile a reference dataset, fixing bin edges at its quantiles and its top-K categories.

    Numerical columns with few distinct values are profiled per value; the others keep a sketch of
    at most ``sketch_edges`` edges, and all their finite values when there are at most
    ``sample_size`` (see the module docstring). ``data`` is a pandas DataFrame or Arrow data
    (``Batch``); Arrow columns give the profile of their pandas conversion. Columns are profiled
    one at a time, or by ``executor``'s threads (as in ``observe``).
    """
    if bins < 1:
        raise ValueError("bins must be >= 1")
    if sample_size < 0 or sketch_edges < 2:
        raise ValueError("sample_size must be >= 0 and sketch_edges >= 2")

    def profile(name: str) -> ColumnProfile:  # the column is passed, not kept
        return _reference_column(_column(data, name), bins, sketch_edges, top_k, sample_size)

    names = _names(data)
    profiles = executor.map(profile, names) if executor else map(profile, names)
    columns = {str(name): col for name, col in zip(names, profiles, strict=True)}
    return DatasetProfile(rows=len(data), columns=columns)


def _reference_column(
    column: Column, bins: int, sketch_edges: int, top_k: int, sample_size: int
) -> ColumnProfile:
    values: FloatArray | None = None
    is_time = False
    if not isinstance(column, pd.Series):
        column = _arrow_as_pandas_sees_it(column)
    if not isinstance(column, pd.Series):
        values = _arrow_float(column)
    elif is_numeric_series(column):
        values = _as_float(column)
        is_time = pd.api.types.is_datetime64_any_dtype(column.dtype)
    if values is None:
        return _reference_categorical(column, top_k)
    levels = None if is_time else _discrete_levels(values[np.isfinite(values)])
    if levels is not None:
        return _reference_discrete(values, levels)
    return _reference_numeric(values, bins, sketch_edges, sample_size)


def observe(
    data: Batch, reference: DatasetProfile, *, executor: Executor | None = None
) -> DatasetProfile:
    """Profile a window of data on the reference's edges and categories (mergeable with others).

    ``data`` is a pandas DataFrame or Arrow data (``Batch``): Arrow numerical and string columns
    are profiled on Arrow's buffers, without a pandas copy, and give the same profile as their
    pandas conversion. Columns of the reference absent from ``data`` are profiled as entirely
    missing. Columns are profiled one at a time, or by ``executor``'s threads when given (numpy
    and Arrow release the GIL), each reading its column from ``data`` when it starts.
    """
    n = len(data)
    present = set(_names(data))

    def profile(name: str) -> ColumnProfile:
        ref = reference.columns[name]
        if name not in present:
            return _observe_column(pd.Series([None] * n, dtype=object), ref)
        return _observe_column(_column(data, name), ref)  # passed, not kept

    names = list(reference.columns)
    profiles = executor.map(profile, names) if executor else map(profile, names)
    return DatasetProfile(rows=n, columns=dict(zip(names, profiles, strict=True)))


def _names(data: Batch) -> list[str]:
    return list(data.columns) if isinstance(data, pd.DataFrame) else list(data.schema.names)


def _column(data: Batch, name: str) -> Column:
    return data[name] if isinstance(data, pd.DataFrame) else data.column(name)


def _observe_column(column: Column, reference: ColumnProfile) -> ColumnProfile:
    if isinstance(reference, NumericProfile):
        edges = reference.histogram.edges
        return _numeric(_window_float(column), edges, reference.sketch.edges)
    if reference.levels:
        return _window_discrete(_window_float(column), reference)
    return _window_categorical(column, reference)


def _window_float(column: Column) -> FloatArray:
    if not isinstance(column, pd.Series):
        values = _arrow_float(column)
        if values is not None:
            return values
        column = column.to_pandas()
    try:
        return _as_float(column)
    except (TypeError, ValueError):
        return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)


def _arrow_as_pandas_sees_it(column: ArrowColumn) -> Column:
    """An Arrow column as is when the Arrow paths handle its type (integers, floats, strings),
    else converted to pandas (dates, booleans, decimals...), whose reading of it is the rule."""
    import pyarrow as pa

    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return column
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return column
    return column.to_pandas()


def _arrow_float(column: ArrowColumn) -> FloatArray | None:
    """An Arrow integer or floating column as float64 with NaN for nulls (None for other types):
    what pandas' conversion gives, without it (a float64 column without nulls is not copied)."""
    import pyarrow as pa

    kind = column.type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        return None
    if isinstance(column, pa.ChunkedArray) and column.num_chunks == 1:
        column = column.chunk(0)  # an array converts without a copy, a chunked one never does
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def _arrow_label_counts(column: ArrowColumn) -> tuple[list[str], IntArray, int] | None:
    """``_label_counts`` of an Arrow string column (plain or dictionary-encoded); None for other
    types, which go through pandas so that their labels are pandas' ``str`` of each value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return None
    counted = pc.value_counts(column)
    valid = counted.field("values").is_valid()
    counts = np.asarray(counted.field("counts").filter(valid).to_numpy(), dtype=np.int64)
    order = np.argsort(-counts, kind="stable")
    labels = counted.field("values").filter(valid).take(order).to_pylist()
    return labels, counts[order], int(column.null_count)


def window_profile_batches(batches: Iterable[Batch], reference: DatasetProfile) -> DatasetProfile:
    """Observe a window given as batches (e.g. a larger-than-memory file read in chunks).

    Equal to ``observe`` of the concatenation except ``CategoricalProfile.distinct`` (the largest
    per-batch count, a lower bound) and ``unseen`` (top-K of per-batch top-K). No batch: 0 rows.
    """
    merged: DatasetProfile | None = None
    for batch in batches:
        part = observe(batch, reference)
        merged = part if merged is None else merged.merge(part)
    return merged if merged is not None else observe(pd.DataFrame(), reference)


def numeric_values(data: Batch, reference: DatasetProfile) -> dict[str, FloatArray]:
    """The finite values of each numerical column of ``reference`` in ``data``, on the profile's
    scale (datetimes as epoch seconds): what ``compare`` takes as ``window_values`` for exact tests.
    """
    out: dict[str, FloatArray] = {}
    names = set(_names(data))
    for name, ref in reference.columns.items():
        if isinstance(ref, NumericProfile):
            if name not in names:
                values: FloatArray = np.empty(0)
            else:
                values = _window_float(
                    data[name] if isinstance(data, pd.DataFrame) else data.column(name)
                )
            out[name] = values[np.isfinite(values)]
    return out
