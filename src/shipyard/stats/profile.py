"""Mergeable per-column summaries of a dataset: the baseline that monitoring diffs against.

A *reference* profile is built once from training or validation data (``build_profile``): it fixes the
bin edges of every numerical column at the reference quantiles, and the categories of every categorical
column (top-K by frequency). A *window* profile of later data is computed on those same edges and
categories (``observe``), so two windows merge by adding counts and every drift statistic compares
like with like without re-reading the reference rows.

Numerical columns keep two histograms on reference-quantile edges: a coarse one (``bins`` bins, used
for PSI) and a fine one (percentile edges, used as a CDF sketch for Kolmogorov-Smirnov and Wasserstein).
Both have an underflow and an overflow bin; missing values (None/NaN) are counted apart, infinities are
counted and binned into under/overflow. Moments merge with Chan's parallel formula.

A reference numerical column also keeps ``quantiles`` (101 percentiles) and a ``sample``: a uniform
random sample, without replacement, of up to ``DEFAULT_SAMPLE_SIZE`` finite values (all of them when
there are fewer), drawn with ``np.random.default_rng(0)`` so a rebuilt profile is identical. The sample
lets a two-sample test (Kolmogorov-Smirnov, Wasserstein) run on raw values for small windows without
re-reading the training data; 1000 values cost ~20 KB of JSON per column and bound the sampling error
of the reference CDF by ~1.36/sqrt(1000) = 0.043 (95% DKW band). Both are dropped by ``merge``: a merge
of windows has no such reference-only summaries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

DEFAULT_BINS = 10
DEFAULT_SKETCH_BINS = 100
DEFAULT_TOP_K = 20
DEFAULT_SAMPLE_SIZE = 1000
SAMPLE_SEED = 0
_TICKS_PER_SECOND = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}

FloatArray = npt.NDArray[np.float64]


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
        if finite.size == 0:
            return cls()
        mean = float(finite.mean())
        return cls(
            count=int(finite.size),
            mean=mean,
            m2=float(((finite - mean) ** 2).sum()),
            min=float(finite.min()),
            max=float(finite.max()),
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
        counts = [int(below[0]), *(int(c) for c in bins), int(ordered.size - upto_last)]
        return cls(edges=edges, counts=tuple(counts))

    def merge(self, other: Histogram) -> Histogram:
        if self.edges != other.edges:
            raise ValueError("cannot merge histograms with different edges")
        return replace(
            self, counts=tuple(a + b for a, b in zip(self.counts, other.counts, strict=True))
        )

    @property
    def total(self) -> int:
        return sum(self.counts)


def _quantile_edges(finite: FloatArray, n_bins: int) -> tuple[float, ...]:
    if finite.size == 0:
        return (0.0, 0.0)
    edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, n_bins + 1)))
    if edges.size == 1:
        edges = np.array([edges[0], edges[0]])
    return tuple(float(e) for e in edges)


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
    """Reference only: <= ``DEFAULT_SAMPLE_SIZE`` finite values, uniform without replacement, sorted."""

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
    present = values[~missing]
    finite = present[np.isfinite(present)]
    ordered = np.sort(present)  # one sort: both histograms are then edge lookups
    return NumericProfile(
        kind="numeric",
        rows=int(values.size),
        missing=int(missing.sum()),
        infinite=int(present.size - finite.size),
        moments=Moments.of(finite),
        histogram=Histogram.of_sorted(ordered, edges),
        sketch=Histogram.of_sorted(ordered, sketch_edges),
    )


def _sample(finite: FloatArray, size: int) -> FloatArray:
    """Uniform sample without replacement of ``size`` values (all when fewer), sorted; seeded."""
    if finite.size > size:
        rng = np.random.default_rng(SAMPLE_SEED)
        finite = finite[rng.choice(finite.size, size=size, replace=False)]
    return np.sort(finite)


def _reference_numeric(
    values: FloatArray, bins: int, sketch_bins: int, sample_size: int
) -> NumericProfile:
    finite = values[np.isfinite(values)]
    profile = _numeric(values, _quantile_edges(finite, bins), _quantile_edges(finite, sketch_bins))
    quantiles = np.quantile(finite, np.linspace(0, 1, 101)) if finite.size else np.array([])
    return replace(
        profile,
        quantiles=tuple(float(q) for q in quantiles),
        sample=tuple(float(v) for v in _sample(finite, sample_size)),
    )


def _as_labels(series: pd.Series) -> pd.Series:
    """Categorical values as strings; missing stays missing."""
    mask = series.isna()
    labels = series.astype(str)
    return labels[~mask.to_numpy()]


def _reference_categorical(series: pd.Series, top_k: int) -> CategoricalProfile:
    labels = _as_labels(series)
    freq = labels.value_counts(sort=True)
    top = freq.iloc[:top_k]
    return CategoricalProfile(
        kind="categorical",
        rows=len(series),
        missing=len(series) - len(labels),
        categories=tuple(str(k) for k in top.index),
        counts=tuple(int(c) for c in top.to_numpy()),
        other=int(freq.iloc[top_k:].sum()),
        distinct=int(freq.size),
    )


def _window_categorical(series: pd.Series, reference: CategoricalProfile) -> CategoricalProfile:
    labels = _as_labels(series)
    freq = labels.value_counts(sort=True)
    known = freq.reindex(list(reference.categories), fill_value=0)
    rest = freq.drop(index=list(reference.categories), errors="ignore")
    return CategoricalProfile(
        kind="categorical",
        rows=len(series),
        missing=len(series) - len(labels),
        categories=reference.categories,
        counts=tuple(int(c) for c in known.to_numpy()),
        other=int(rest.sum()),
        distinct=int(freq.size),
        unseen={str(k): int(v) for k, v in rest.iloc[:DEFAULT_TOP_K].items()},
    )


def build_profile(
    data: pd.DataFrame,
    *,
    bins: int = DEFAULT_BINS,
    sketch_bins: int = DEFAULT_SKETCH_BINS,
    top_k: int = DEFAULT_TOP_K,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
) -> DatasetProfile:
    """Profile a reference dataset, fixing bin edges at its quantiles and its top-K categories.

    Numerical columns also keep a seeded sample of ``sample_size`` finite values (see the module
    docstring); ``sample_size=0`` keeps none.
    """
    if bins < 1:
        raise ValueError("bins must be >= 1")
    if sample_size < 0:
        raise ValueError("sample_size must be >= 0")
    columns: dict[str, ColumnProfile] = {}
    for name in data.columns:
        series = data[name]
        if is_numeric_series(series):
            values = _as_float(series)
            columns[str(name)] = _reference_numeric(values, bins, sketch_bins, sample_size)
        else:
            columns[str(name)] = _reference_categorical(series, top_k)
    return DatasetProfile(rows=len(data), columns=columns)


def observe(data: pd.DataFrame, reference: DatasetProfile) -> DatasetProfile:
    """Profile a window of data on the reference's edges and categories (mergeable with others).

    Columns of the reference absent from ``data`` are profiled as entirely missing.
    """
    columns: dict[str, ColumnProfile] = {}
    n = len(data)
    for name, ref in reference.columns.items():
        series = data[name] if name in data.columns else pd.Series([None] * n, dtype=object)
        if isinstance(ref, NumericProfile):
            columns[name] = _numeric(_window_float(series), ref.histogram.edges, ref.sketch.edges)
        else:
            columns[name] = _window_categorical(series, ref)
    return DatasetProfile(rows=n, columns=columns)


def _window_float(series: pd.Series) -> FloatArray:
    try:
        return _as_float(series)
    except (TypeError, ValueError):
        return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)


def window_profile_batches(
    batches: Iterable[pd.DataFrame], reference: DatasetProfile
) -> DatasetProfile:
    """Observe a window given as batches (e.g. a larger-than-memory file read in chunks).

    Equal to ``observe`` of the concatenation except ``CategoricalProfile.distinct`` (the largest
    per-batch count, a lower bound) and ``unseen`` (top-K of per-batch top-K). No batch: 0 rows.
    """
    merged: DatasetProfile | None = None
    for batch in batches:
        part = observe(batch, reference)
        merged = part if merged is None else merged.merge(part)
    return merged if merged is not None else observe(pd.DataFrame(), reference)


def numeric_values(data: pd.DataFrame, reference: DatasetProfile) -> dict[str, FloatArray]:
    """The finite values of each numerical column of ``reference`` in ``data``, on the profile's
    scale (datetimes as epoch seconds): what ``compare`` takes as ``window_values`` for exact tests.
    """
    out: dict[str, FloatArray] = {}
    for name, ref in reference.columns.items():
        if isinstance(ref, NumericProfile):
            values = _window_float(data[name]) if name in data.columns else np.empty(0)
            out[name] = values[np.isfinite(values)]
    return out
