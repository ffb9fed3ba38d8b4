"""Reference profiles: correct counts and moments, mergeable windows, JSON round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shipyard.stats.profile import (
    DEFAULT_SKETCH_EDGES,
    CategoricalProfile,
    DatasetProfile,
    NumericProfile,
    build_profile,
    numeric_values,
    observe,
    window_profile_batches,
)


def frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    x[:5] = np.nan
    return pd.DataFrame(
        {"x": x, "k": rng.choice(["a", "b", "c", None], n, p=[0.5, 0.3, 0.15, 0.05])}
    )


def test_reference_numeric_column() -> None:
    data = frame(10_000, 1)
    prof = build_profile(data, bins=10)
    col = prof.columns["x"]
    assert isinstance(col, NumericProfile)
    finite = data["x"].dropna().to_numpy()
    assert col.missing == 5 and col.rows == 10_000 and col.moments.count == finite.size
    assert np.isclose(col.moments.mean, finite.mean()) and np.isclose(
        col.moments.std, finite.std(ddof=1)
    )
    edges = np.asarray(col.histogram.edges)
    assert len(edges) == 11 and np.allclose(edges, np.quantile(finite, np.linspace(0, 1, 11)))
    counts = col.histogram.counts
    assert counts[0] == 0 and counts[-1] == 0 and sum(counts) == finite.size  # no under/overflow
    assert all(abs(c - finite.size / 10) <= 2 for c in counts[1:-1])  # quantile bins are even
    assert len(col.quantiles) == 101


def test_window_uses_reference_edges_and_counts_overflow() -> None:
    ref = build_profile(frame(5_000, 1))
    win = observe(frame(2_000, 2, shift=8.0), ref)
    col = win.columns["x"]
    assert isinstance(col, NumericProfile)
    assert col.histogram.edges == ref.columns["x"].histogram.edges  # type: ignore[union-attr]
    assert col.histogram.counts[-1] > 1_000  # most shifted values overflow the reference range
    assert sum(col.histogram.counts) + col.missing == 2_000


def test_infinities_are_counted_and_binned() -> None:
    ref = build_profile(pd.DataFrame({"x": np.arange(100.0)}))
    win = observe(pd.DataFrame({"x": [np.inf, -np.inf, 5.0, np.nan]}), ref)
    col = win.columns["x"]
    assert isinstance(col, NumericProfile)
    assert (col.infinite, col.missing, col.histogram.counts[0], col.histogram.counts[-1]) == (
        2,
        1,
        1,
        1,
    )
    assert col.moments.count == 1


def test_categorical_top_k_other_and_unseen() -> None:
    ref = build_profile(frame(5_000, 1), top_k=2)
    col = ref.columns["k"]
    assert isinstance(col, CategoricalProfile)
    assert col.categories == ("a", "b") and col.other > 0 and col.missing > 0
    win = observe(pd.DataFrame({"k": ["a", "zzz", "zzz", None]}), ref)
    wcol = win.columns["k"]
    assert isinstance(wcol, CategoricalProfile)
    assert (
        wcol.counts == (1, 0)
        and wcol.other == 2
        and wcol.unseen == {"zzz": 2}
        and wcol.missing == 1
    )


def test_windows_merge_to_the_profile_of_their_union() -> None:
    ref = build_profile(frame(5_000, 1))
    a, b = frame(3_000, 2, 0.5), frame(4_000, 3, -0.2)
    merged = observe(a, ref).merge(observe(b, ref))
    whole = observe(pd.concat([a, b], ignore_index=True), ref)
    assert merged.rows == whole.rows == 7_000
    mx, wx = merged.columns["x"], whole.columns["x"]
    assert isinstance(mx, NumericProfile) and isinstance(wx, NumericProfile)
    assert mx.histogram == wx.histogram and mx.sketch == wx.sketch
    assert np.isclose(mx.moments.mean, wx.moments.mean) and np.isclose(mx.moments.m2, wx.moments.m2)
    assert merged.columns["k"].counts == whole.columns["k"].counts  # type: ignore[union-attr]


def test_missing_column_in_window_is_all_missing() -> None:
    ref = build_profile(frame(1_000, 1))
    win = observe(pd.DataFrame({"k": ["a"] * 10}), ref)
    assert win.columns["x"].missing == 10


def test_constant_column_and_json_round_trip() -> None:
    prof = build_profile(pd.DataFrame({"c": [3.0] * 50, "flag": [True, False] * 25}))
    col = prof.columns["c"]  # one distinct value: profiled per value
    assert isinstance(col, CategoricalProfile) and col.levels == (3.0,)
    assert (col.categories, col.counts, col.other) == (("3",), (50,), 0)
    assert isinstance(prof.columns["flag"], CategoricalProfile)
    assert DatasetProfile.from_dict(prof.to_dict()) == prof


def test_discrete_numeric_columns_are_counted_per_value() -> None:
    rng = np.random.default_rng(7)
    data = pd.DataFrame(
        {
            "flag": (rng.random(5_000) < 0.1).astype(np.int64),
            "level": rng.integers(1, 6, 5_000).astype(float),
            "age": rng.integers(18, 60, 5_000),  # 42 integer levels
            "x": rng.normal(0, 1, 5_000),
        }
    )
    data.loc[0, "level"] = np.nan
    ref = build_profile(data)
    flag, level, age = (ref.columns[c] for c in ("flag", "level", "age"))
    assert isinstance(flag, CategoricalProfile) and flag.categories == ("0", "1")
    assert flag.counts == tuple(int(v) for v in data["flag"].value_counts().sort_index())
    assert isinstance(level, CategoricalProfile) and level.missing == 1
    assert sorted(level.categories) == ["1", "2", "3", "4", "5"] and sum(level.counts) == 4_999
    assert isinstance(age, CategoricalProfile) and len(age.levels) == 42
    assert isinstance(ref.columns["x"], NumericProfile)
    # a window matches numbers, whatever their dtype; values the reference never had are unseen
    win = observe(pd.DataFrame({"flag": [1.0, 1.0, 0.0], "level": ["2", "7", None]}), ref)
    wflag, wlevel = win.columns["flag"], win.columns["level"]
    assert isinstance(wflag, CategoricalProfile) and wflag.counts == (1, 2)
    assert isinstance(wlevel, CategoricalProfile) and wlevel.other == 1 and wlevel.missing == 1
    assert dict(wlevel.unseen) == {"7": 1}
    assert wlevel.counts[wlevel.categories.index("2")] == 1
    assert DatasetProfile.from_dict(ref.to_dict()) == ref


def test_sketch_edges_are_reference_values_with_repeated_values_isolated() -> None:
    rng = np.random.default_rng(8)
    x = np.concatenate([rng.standard_t(3, 20_000), np.zeros(5_000)])  # a point mass at 0
    data = pd.DataFrame({"x": x})
    data.loc[10:12, "x"] = [np.inf, -np.inf, np.inf]
    col = build_profile(data).columns["x"]
    assert isinstance(col, NumericProfile) and col.sketch_on_values and col.sample == ()
    finite = np.sort(data["x"].to_numpy()[np.isfinite(data["x"].to_numpy())])
    edges = np.asarray(col.sketch.edges)
    assert edges[0] == finite[0] and edges[-1] == finite[-1]
    assert np.isin(edges, finite).mean() > 0.99 and edges.size <= DEFAULT_SKETCH_EDGES + 40
    zero = int(np.searchsorted(edges, 0.0))
    assert edges[zero + 1] == np.nextafter(0.0, 1.0)  # the point mass has a bin of its own
    assert col.sketch.counts[zero + 1] == int((finite == 0).sum())
    assert (col.sketch.counts[0], col.sketch.counts[-1]) == (1, 2)  # -inf and +inf
    assert build_profile(data).columns["x"] == col  # deterministic


def test_small_reference_keeps_every_finite_value_and_merge_drops_the_sample() -> None:
    values = np.linspace(0.05, 3.0, 60)
    data = pd.DataFrame({"x": np.concatenate([values, [np.nan, np.inf]])})
    ref = build_profile(data)
    col = ref.columns["x"]
    assert isinstance(col, NumericProfile)
    assert col.sample == tuple(values) and col.sample_is_complete
    merged = ref.merge(ref).columns["x"]
    assert isinstance(merged, NumericProfile) and merged.sample == () and merged.quantiles == ()
    assert not merged.sketch_on_values
    win = observe(data, ref).columns["x"]
    assert isinstance(win, NumericProfile) and win.sample == ()  # windows keep no sample
    none = build_profile(data, sample_size=0).columns["x"]
    assert isinstance(none, NumericProfile) and none.sample == ()


def test_profiles_of_earlier_versions_still_load() -> None:
    prof = build_profile(frame(2_000, 3))
    data = prof.to_dict()
    assert DatasetProfile.from_dict(data) == prof
    # earlier versions: a random 1000-value sample, a percentile sketch, no sketch_on_values
    x = data["columns"]["x"]
    x["sample"] = list(np.random.default_rng(0).normal(size=1000))
    del x["sketch_on_values"]
    old = DatasetProfile.from_dict(data).columns["x"]
    assert isinstance(old, NumericProfile) and not old.sketch_on_values
    assert len(old.sample) == 1000 and not old.sample_is_complete
    del x["sample"], x["quantiles"]
    older = DatasetProfile.from_dict(data).columns["x"]
    assert isinstance(older, NumericProfile) and older.sample == () and older.quantiles == ()


def test_window_profile_batches_equals_observing_the_concatenation() -> None:
    ref = build_profile(frame(5_000, 1))
    batches = [frame(1_000, 2, 0.3), frame(2_500, 3, -0.1), frame(10, 4)]
    batches[1].loc[0, "k"] = "unseen"
    merged = window_profile_batches(iter(batches), ref)
    whole = observe(pd.concat(batches, ignore_index=True), ref)
    assert merged.rows == whole.rows == 3_510
    mx, wx = merged.columns["x"], whole.columns["x"]
    assert isinstance(mx, NumericProfile) and isinstance(wx, NumericProfile)
    assert (mx.rows, mx.missing, mx.infinite, mx.histogram, mx.sketch) == (
        wx.rows,
        wx.missing,
        wx.infinite,
        wx.histogram,
        wx.sketch,
    )
    assert mx.moments.count == wx.moments.count and (mx.moments.min, mx.moments.max) == (
        wx.moments.min,
        wx.moments.max,
    )
    assert np.isclose(mx.moments.mean, wx.moments.mean) and np.isclose(mx.moments.m2, wx.moments.m2)
    mk, wk = merged.columns["k"], whole.columns["k"]
    assert isinstance(mk, CategoricalProfile) and isinstance(wk, CategoricalProfile)
    assert (mk.counts, mk.other, mk.missing, dict(mk.unseen)) == (
        wk.counts,
        wk.other,
        wk.missing,
        dict(wk.unseen),
    )
    assert mk.distinct <= wk.distinct  # merged: a lower bound (documented)
    empty = window_profile_batches([], ref)
    assert empty.rows == 0 and empty.columns["x"].rows == 0


def test_numeric_values_are_the_finite_values_on_the_profile_scale() -> None:
    ref = build_profile(
        pd.DataFrame(
            {
                "x": np.linspace(0.5, 9.5, 30),
                "t": pd.date_range("2024-01-01", periods=30, freq="h"),
            }
        )
    )
    data = pd.DataFrame(
        {"x": [np.nan, 5.0, np.inf], "t": pd.to_datetime(pd.Series(["2024-01-03", None, None]))}
    )
    values = numeric_values(data, ref)
    assert values["x"].tolist() == [5.0]
    assert values["t"].tolist() == [pd.Timestamp("2024-01-03").timestamp()]
    assert numeric_values(pd.DataFrame({"y": [1]}), ref)["x"].size == 0


def test_a_point_mass_gets_a_coarse_bin_of_its_own() -> None:
    rng = np.random.default_rng(9)
    n = 50_000
    x = np.where(rng.random(n) < 0.4, 0.0, rng.lognormal(0.0, 1.0, n))  # 40% zeros
    ref = build_profile(pd.DataFrame({"x": x}), bins=10)
    col = ref.columns["x"]
    assert isinstance(col, NumericProfile)
    edges, counts = np.asarray(col.histogram.edges), col.histogram.counts
    assert edges[0] == 0.0 and edges[1] == np.nextafter(0.0, 1.0)
    assert counts[1] == int((x == 0).sum())  # the mass alone, not merged with its neighbours
    rest = np.asarray(counts[3:-1])  # after the (empty) bin between 0 and the smallest positive
    assert rest.size == 6 and np.all(np.abs(rest - (x > 0).sum() / 6) <= 2)  # 60% in 6 bins
    # a window is counted on the same edges: its own mass lands in the mass's bin
    current = np.where(rng.random(10_000) < 0.6, 0.0, rng.lognormal(0.0, 1.0, 10_000))
    win = observe(pd.DataFrame({"x": current}), ref).columns["x"]
    assert isinstance(win, NumericProfile) and win.histogram.counts[1] == (current == 0).sum()
    # without a point mass the edges are the plain deciles
    plain = build_profile(pd.DataFrame({"x": rng.normal(0, 1, n)}), bins=10).columns["x"]
    assert isinstance(plain, NumericProfile) and len(plain.histogram.edges) == 11


def mixed(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.standard_t(3, n)
    x[:7] = [np.nan, np.inf, -np.inf, np.nan, 1e6, -0.0, 0.0]
    count = rng.poisson(4.0, n).astype(float)
    count[rng.random(n) < 0.05] = np.nan  # an integer column with missing values
    plan = rng.choice(["basic", "plus", "pro", "max", "ultra"], n, p=[0.4, 0.3, 0.15, 0.1, 0.05])
    plan = plan.astype(object)
    plan[rng.random(n) < 0.03] = None
    return pd.DataFrame(
        {
            "x": x,
            "n": rng.integers(0, 1_000, n),
            "count": count,
            "plan": plan,
            "tier": pd.Categorical(rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1])),
            "ok": rng.random(n) < 0.7,
            "at": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**6, n), "s"),
        }
    )


def test_arrow_data_gives_the_profiles_of_its_pandas_conversion() -> None:
    import pyarrow as pa

    reference = mixed(20_000, 1)
    table = pa.Table.from_pandas(reference, preserve_index=False)
    assert pa.types.is_dictionary(table.schema.field("tier").type)
    ref = build_profile(reference)
    assert build_profile(table) == ref
    current = mixed(5_000, 2)
    current.loc[:9, "plan"] = "new"  # unseen
    window = observe(current, ref)
    batch = pa.RecordBatch.from_pandas(current, preserve_index=False)
    assert observe(batch, ref) == window
    assert observe(pa.Table.from_pandas(current, preserve_index=False), ref) == window
    plan = window.columns["plan"]
    assert isinstance(plan, CategoricalProfile) and dict(plan.unseen) == {"new": 10}
    arrow_values = numeric_values(batch, ref)
    for name, values in numeric_values(current, ref).items():
        assert np.array_equal(arrow_values[name], values), name
    # a column of another type than the reference's is read as pandas reads it
    swapped = pa.table({"x": pa.array(["1.5", "oops", None]), "plan": pa.array([1, 2, None])})
    frame_ = swapped.to_pandas()
    assert observe(swapped, ref) == observe(frame_, ref)
