"""Drift benchmark: Shipyard's binned drift next to plain numpy/scipy and (optionally) Evidently.

Synthetic data, seeded and identical for every path: a *current* window of ``--rows`` rows (default
1 000 000) x 25 columns against a *reference* of 100 000 rows. 20 numerical float64 columns (normal,
log-normal, exponential, uniform and integer-valued Poisson, several with 2% missing values) and 5
categorical string columns with 5, 10, 20, 35 and 50 categories (Zipf-like frequencies, two with
missing values). In the current data ``num_00``..``num_03`` are shifted (mean +0.5 sd, wider
log-normal, 1.5x exponential scale, uniform moved by 10% of its range), ``num_05``'s missing share
goes from 2% to 8%, and ``cat_0``'s frequencies are reversed: six columns should be flagged. The data
is generated in chunks of 250 000 rows straight into Parquet files (Arrow, not timed), so even the
4M-row file never sits in memory.

What is measured -- each measurement in a fresh subprocess (this script with ``--child``), which
loads its inputs untimed and then times only the work; wall time is ``time.perf_counter``:

0. **shipyard drift on the files** -- ``monitoring.file_drift.drift(REF.parquet, CUR.parquet)``,
   what ``shipyard drift`` runs, end to end and timed whole: the reference file read and profiled,
   the current file read in runs of whole row groups (at least 100 000 rows), one column at a time
   per thread (a thread per CPU, at most 4), profiled on Arrow and compared. Its peak RSS is judged
   against the in-memory size of the current data (``DataFrame.memory_usage(deep=True)`` of the
   whole file, measured in another child), and its time against Evidently's on the same rows.
1. **Shipyard in-memory** -- the current file read into one pandas DataFrame, then
   ``observe(current, reference_profile)`` + ``compare(reference_profile, window)`` (binned path: no
   ``window_values``), best and median of ``repeats``; cells/s = rows x columns / wall time. The
   reference profile (``build_profile`` of the reference, timed separately) is built beforehand, as
   the monitor stores it with the model.
2. **Binned-statistics core** -- ``observe`` on the 20 numerical columns only (against the numerical
   part of the reference profile), in a child whose BLAS/OpenMP pools are pinned to one thread (env
   ``OMP_NUM_THREADS=1`` etc. and ``threadpoolctl.threadpool_limits(1)``): cells per CPU-second of
   the process (``time.process_time``; with one thread that is cells/s per core; the wall-time rate is
   shown next to it).
3. **Shipyard streaming** -- Arrow batches of 100 000 rows -> ``RecordBatch.to_pandas()`` ->
   ``window_profile_batches`` -> ``compare``, at rows/4, rows and 4 x rows (the last one skipped with
   ``--quick``), to see whether peak memory grows with the window. Three readers of the same file
   (row groups of 250 000 rows): ``pq.ParquetFile(path).iter_batches(batch_size=100_000)`` over the
   whole file (the recipe; its row is the one in the main table), the same ``iter_batches`` called
   once per row group (``row_groups=[g]``), and DuckDB's
   ``con.sql("SELECT * FROM read_parquet(...)").to_arrow_reader(batch_size=100_000)``, which is how
   the monitor streams its prediction log (``telemetry.reader.batches``). The first two separate
   Shipyard's own memory from the reader's: with pyarrow 26, a single ``iter_batches`` over a
   multi-row-group file keeps every row group it decoded allocated until the ``ParquetFile`` is
   dropped (``pa.total_allocated_bytes()`` grows by about the decoded size of the file).
4. **Baseline** -- "plain numpy/scipy per column" on the raw values (both frames in memory): for each
   numerical column ``scipy.stats.ks_2samp(ref, cur)`` plus PSI on 10 reference-quantile bins
   (``np.quantile`` + ``np.histogram``, outer edges open); for each categorical column
   ``scipy.stats.chisquare`` of the current counts against the reference shares (+0.5 smoothing),
   plus PSI on the categories. Missing values are dropped. A column is flagged when its
   Bonferroni-adjusted p < 0.05 and PSI >= 0.1 (Shipyard's rule minus the missing-share test).
5. **Evidently** (optional) -- when ``SHIPYARD_BENCH_EVIDENTLY_PYTHON`` names the python of a separate
   virtualenv with ``evidently==0.7.23`` and ``pandas<3``: ``Report([DataDriftPreset()]).run(
   current_data=..., reference_data=...)`` on ``Dataset.from_pandas`` objects with an explicit
   ``DataDefinition`` (so no type inference is timed), on the first ``--evidently-rows`` rows of the
   same current file (default 100 000; 0 = all) with a time budget (``--evidently-timeout``, 900 s).
   Shipyard in-memory is also run on exactly those rows, and the Shipyard / Evidently ratio of cells/s
   is judged on that equal-size pair; the ratio against Shipyard's full-size run is shown too.
   Set the environment up outside the repository (never a dependency of Shipyard)::

       python3 -m venv /work/bench-venvs/evidently
       /work/bench-venvs/evidently/bin/pip install 'evidently==0.7.23' 'pandas<3' pyarrow
       export SHIPYARD_BENCH_EVIDENTLY_PYTHON=/work/bench-venvs/evidently/bin/python

Peak RSS: each child resets its high-water mark (``/proc/self/clear_refs`` <- ``5``) once its inputs
are loaded (after ``gc.collect()`` and ``pa.default_memory_pool().release_unused()``: mimalloc hands
freed pages back lazily) and reads ``VmHWM`` from ``/proc/self/status`` after the work, so "peak RSS"
is the whole process (interpreter, libraries, loaded data) at its highest during the timed work, and
"+RSS" is that peak minus the RSS just before (the largest over repeats). Without ``clear_refs`` the lifetime ``ru_maxrss`` is shown (marked).
"other CPU" is the CPU used by every other process during the timed work (``/proc/stat`` minus the
child's own CPU time), in cores: above 0.25 the number was taken on a busy machine.

Before any timed work every Shipyard child runs ``observe`` + ``compare`` on 1000 rows, untimed, so
the first-call import of ``scipy.stats`` and of the stat-test plugins (~100 MB of RSS) is not
counted as drift work.

Targets (PASS/FAIL): binned statistics >= 20 M cells/s per core; streaming peak RSS within 1.3x
across row counts (one line per reader); ``shipyard drift`` on the files: peak RSS <= 2x the current
data in memory and wall time <= 1/50 of Evidently's on the same rows (the issue's targets); Shipyard
in-memory >= 50x Evidently in cells/s (when measured). When the first one fails, a
cProfile of ``observe`` and ``compare`` names the functions that dominate, and a what-if variant of
the numerical histogram (one ``np.sort`` per column, then ``searchsorted`` of the edges into the
sorted values -- bench code, not Shipyard's) is timed and checked to give identical profiles.

Run from the repository root (about 3 minutes with the defaults on a shared 2-core machine)::

    PYTHONPATH=src python bench/drift.py                     # 1M rows, streaming at 250k/1M/4M
    PYTHONPATH=src python bench/drift.py --quick             # 1 repeat, no 4M streaming run
    PYTHONPATH=src python bench/drift.py --rows 200000       # another window size
    PYTHONPATH=src python bench/drift.py --json out.json     # also write JSON ("-": stdout)
    PYTHONPATH=src python bench/drift.py --profile           # show the cProfile even on PASS
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import json
import math
import os
import platform
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

FloatArray = npt.NDArray[np.float64]

REPO = Path(__file__).resolve().parent.parent
REF_ROWS = 100_000
CHUNK_ROWS = 250_000
BATCH_ROWS = 100_000
N_NUMERIC = 20
CAT_SIZES = (5, 10, 20, 35, 50)
N_COLUMNS = N_NUMERIC + len(CAT_SIZES)
NUMERIC = tuple(f"num_{i:02d}" for i in range(N_NUMERIC))
CATEGORICAL = tuple(f"cat_{j}" for j in range(len(CAT_SIZES)))
EXPECTED_DRIFT = ("num_00", "num_01", "num_02", "num_03", "num_05", "cat_0")
NO_MISSING_TEST = tuple(c for c in EXPECTED_DRIFT if c != "num_05")
"""What a path without a missing-share test can flag (num_05 only changes its missing share)."""
SEED = 20_240_601

CORE_TARGET = 20e6
"""Binned statistics: cells (rows x columns) per CPU-second with one thread."""
STREAM_RSS_TARGET = 1.3
"""Streaming: largest / smallest peak RSS across row counts."""
EVIDENTLY_TARGET = 50.0
FILES_RSS_TARGET = 2.0
"""Shipyard / Evidently cells per second."""
NOISY_CPU = 0.25
EVIDENTLY_ENV = "SHIPYARD_BENCH_EVIDENTLY_PYTHON"
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
CHILD_TIMEOUT_S = 1200.0
READERS = ("pyarrow", "pyarrow-rowgroup", "duckdb")
READER_LABELS = {
    "pyarrow": "ParquetFile.iter_batches (whole file)",
    "pyarrow-rowgroup": "ParquetFile.iter_batches per row group",
    "duckdb": "DuckDB to_arrow_reader (as the monitor)",
}


# --------------------------------------------------------------------------------------------------
# synthetic data


def _zipf(k: int) -> FloatArray:
    weights: FloatArray = 1.0 / np.arange(1, k + 1, dtype=np.float64) ** 1.1
    shares: FloatArray = weights / weights.sum()
    return shares


def _numeric_column(rng: np.random.Generator, i: int, rows: int, current: bool) -> FloatArray:
    shifted = current and i < 4
    kind = i % 5
    if kind == 0:  # normal; num_00: mean + 0.5 sd
        loc, scale = 100.0 + i, 15.0
        return rng.normal(loc + (0.5 * scale if shifted else 0.0), scale, rows)
    if kind == 1:  # log-normal; num_01: sigma 0.6 -> 0.9
        return rng.lognormal(0.0, 0.9 if shifted else 0.6, rows)
    if kind == 2:  # exponential; num_02: scale x1.5
        return rng.exponential(3.0 if shifted else 2.0, rows)
    if kind == 3:  # uniform; num_03: moved by 10% of the range
        low = 0.1 if shifted else 0.0
        return rng.uniform(low, low + 1.0, rows)
    counts: FloatArray = rng.poisson(5.0 + i / 5, rows).astype(np.float64)
    return counts  # integer-valued: tied quantiles


def _numeric_missing(i: int, current: bool) -> float:
    if i == 5:
        return 0.08 if current else 0.02
    return 0.02 if i % 4 == 1 else 0.0


CAT_MISSING = {1: 0.02, 4: 0.01}


def make_chunk(rows: int, *, current: bool, index: int) -> pa.Table:
    """One chunk of reference (``current=False``) or current data; chunk ``index`` seeds it."""
    rng = np.random.default_rng([SEED, int(current), index])
    cols: dict[str, pa.Array] = {}
    for i, name in enumerate(NUMERIC):
        x = _numeric_column(rng, i, rows, current)
        share = _numeric_missing(i, current)
        if share:
            x[rng.random(rows) < share] = np.nan
        cols[name] = pa.array(x, from_pandas=True)  # NaN -> null, as a log writer would store it
    for j, (name, k) in enumerate(zip(CATEGORICAL, CAT_SIZES, strict=True)):
        p = _zipf(k)
        if current and j == 0:
            p = p[::-1].copy()
        codes = rng.choice(k, size=rows, p=p).astype(np.int32)
        share = CAT_MISSING.get(j, 0.0)
        mask = rng.random(rows) < share if share else None
        labels = pa.array([f"{name}_v{c:02d}" for c in range(k)])
        cols[name] = pa.DictionaryArray.from_arrays(
            pa.array(codes, mask=mask), labels
        ).dictionary_decode()
    return pa.table(cols)


def write_data(folder: Path, sizes: list[int]) -> tuple[Path, dict[int, Path], float]:
    """Reference file and one current file per size (prefixes of one stream); seconds spent."""
    t0 = time.perf_counter()
    ref_path = folder / "reference.parquet"
    pq.write_table(make_chunk(REF_ROWS, current=False, index=0), ref_path)
    paths = {n: folder / f"current_{n}.parquet" for n in sizes}
    chunk = min(CHUNK_ROWS, *sizes)
    schema = make_chunk(1, current=True, index=0).schema
    writers = {n: pq.ParquetWriter(paths[n], schema) for n in sizes}
    try:
        for index in range(math.ceil(max(sizes) / chunk)):
            start = index * chunk
            table = make_chunk(min(chunk, max(sizes) - start), current=True, index=index)
            for n, writer in writers.items():
                if start < n:
                    writer.write_table(table.slice(0, min(chunk, n - start)))
            del table
    finally:
        for writer in writers.values():
            writer.close()
    return ref_path, paths, time.perf_counter() - t0


# --------------------------------------------------------------------------------------------------
# measurement helpers (used in the children)


def _status_mb() -> dict[str, float]:
    out: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _busy_cpu_seconds() -> float:
    """CPU time every process on the machine spent running (/proc/stat), in seconds."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class Meter:
    """Around one timed piece of work: wall, own CPU, other processes' CPU and peak RSS."""

    def __init__(self) -> None:
        gc.collect()
        pa.default_memory_pool().release_unused()  # mimalloc returns freed pages lazily
        self.rss_before = _status_mb().get("VmRSS", math.nan)
        self.peak_reset = _reset_peak()
        self.t0, self.own0, self.all0 = (
            time.perf_counter(),
            time.process_time(),
            _busy_cpu_seconds(),
        )

    def stop(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.t0
        own = time.process_time() - self.own0
        other = (_busy_cpu_seconds() - self.all0 - own) / wall if wall >= 0.25 else math.nan
        if self.peak_reset:
            peak = _status_mb().get("VmHWM", math.nan)
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return {
            "wall_s": wall,
            "cpu_s": own,
            "other_cpu": max(0.0, other) if not math.isnan(other) else None,
            "rss_before_mb": self.rss_before,
            "peak_rss_mb": peak,
            "added_mb": max(0.0, peak - self.rss_before),
            "peak_is_lifetime": not self.peak_reset,
        }


def _read_frame(path: str, rows: int | None = None, columns: list[str] | None = None) -> Any:
    table = pq.read_table(path, columns=columns)
    if rows:
        table = table.slice(0, rows)
    frame = table.to_pandas()
    del table
    return frame


def _reference_profile(path: str) -> tuple[Any, float]:
    from shipyard.stats.profile import build_profile

    ref = _read_frame(path)
    t0 = time.perf_counter()
    profile = build_profile(ref)
    return profile, time.perf_counter() - t0


def _numeric_part(profile: Any) -> Any:
    from shipyard.stats.profile import DatasetProfile, NumericProfile

    cols = {k: v for k, v in profile.columns.items() if isinstance(v, NumericProfile)}
    return DatasetProfile(rows=profile.rows, columns=cols)


def _pin_threads() -> dict[str, Any]:
    info: dict[str, Any] = {"env": {k: os.environ.get(k) for k in THREAD_ENV}}
    try:
        from threadpoolctl import (  # type: ignore[import-untyped]
            threadpool_info,
            threadpool_limits,
        )
    except ImportError:
        info["threadpoolctl"] = None
        return info
    threadpool_limits(1)
    info["threadpoolctl"] = [
        {"api": p.get("user_api"), "lib": p.get("internal_api"), "threads": p.get("num_threads")}
        for p in threadpool_info()
    ]
    return info


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    best = dict(min(runs, key=lambda r: r["wall_s"]))
    best["median_wall_s"] = statistics.median(r["wall_s"] for r in runs)
    best["repeats"] = len(runs)
    best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    best["added_mb"] = max(r["added_mb"] for r in runs)
    return best


# --------------------------------------------------------------------------------------------------
# child tasks


def task_memory(p: dict[str, Any]) -> dict[str, Any]:
    """Shipyard in-memory: observe + compare on one DataFrame."""
    from shipyard.stats.drift.verdict import compare
    from shipyard.stats.profile import observe

    reference, build_s = _reference_profile(p["ref"])
    _warm_up(reference, p["cur"])
    cur = _read_frame(p["cur"], p.get("rows"))
    runs: list[dict[str, Any]] = []
    result: Any = None
    for _ in range(p["repeats"]):
        meter = Meter()
        t0 = time.perf_counter()
        window = observe(cur, reference)
        t1 = time.perf_counter()
        result = compare(reference, window)
        run = meter.stop()
        run["observe_s"], run["compare_s"] = t1 - t0, time.perf_counter() - t1
        runs.append(run)
        del window
    out = _best(runs)
    out.update(rows=len(cur), columns=cur.shape[1], build_profile_s=build_s)
    out["flagged"] = list(result.drifted)
    return out


def task_core(p: dict[str, Any]) -> dict[str, Any]:
    """Binned-statistics core: observe on the numerical columns, BLAS/OpenMP pinned to 1 thread."""
    threads = _pin_threads()
    from shipyard.stats.profile import observe

    reference, _ = _reference_profile(p["ref"])
    numeric_ref = _numeric_part(reference)
    cur = _read_frame(p["cur"], columns=list(NUMERIC))
    runs = []
    for _ in range(p["repeats"]):
        meter = Meter()
        observe(cur, numeric_ref)
        runs.append(meter.stop())
    out = _best(runs)
    out["best_cpu_s"] = min(r["cpu_s"] for r in runs)
    out.update(rows=len(cur), columns=cur.shape[1], threads=threads)
    return out


def _warm_up(reference: Any, path: str) -> None:
    """observe + compare on 1000 rows, untimed: imports scipy.stats and the stat-test plugins."""
    from shipyard.stats.drift.verdict import compare
    from shipyard.stats.profile import observe

    head = pq.ParquetFile(path).iter_batches(batch_size=1000)
    compare(reference, observe(next(head).to_pandas(), reference))


def _arrow_batches(reader: str, path: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
    if reader == "pyarrow":  # the recipe: one iter_batches over the whole file
        yield from pq.ParquetFile(path).iter_batches(batch_size=batch_rows)
    elif reader == "pyarrow-rowgroup":  # one iter_batches per row group
        source = pq.ParquetFile(path)
        for group in range(source.metadata.num_row_groups):
            yield from source.iter_batches(batch_size=batch_rows, row_groups=[group])
    elif reader == "duckdb":  # what the monitor does with its log (telemetry.reader.batches)
        import duckdb

        con = duckdb.connect()
        quoted = path.replace("'", "''")
        result = con.sql(f"SELECT * FROM read_parquet('{quoted}')")
        arrow_reader = result.to_arrow_reader(batch_size=batch_rows)
        try:
            yield from arrow_reader
        finally:
            arrow_reader.close()
            con.close()
    else:
        raise ValueError(f"unknown reader {reader!r}")


def task_stream(p: dict[str, Any]) -> dict[str, Any]:
    """Shipyard streaming: Parquet -> Arrow batches -> pandas -> window_profile_batches -> compare."""
    from shipyard.stats.drift.verdict import compare
    from shipyard.stats.profile import window_profile_batches

    reference, _ = _reference_profile(p["ref"])
    _warm_up(reference, p["cur"])
    meter = Meter()
    batches = (b.to_pandas() for b in _arrow_batches(p["reader"], p["cur"], p["batch_rows"]))
    window = window_profile_batches(batches, reference)
    result = compare(reference, window)
    out = meter.stop()
    out.update(rows=window.rows, columns=len(window.columns), flagged=list(result.drifted))
    out["reader"] = p["reader"]
    out["arrow_pool"] = pa.default_memory_pool().backend_name
    return out


def _psi(ref: FloatArray, cur: FloatArray, eps: float = 1e-4) -> float:
    r = np.maximum(ref / ref.sum(), eps)
    c = np.maximum(cur / cur.sum(), eps)
    return float(np.sum((c - r) * np.log(c / r)))


def task_baseline(p: dict[str, Any]) -> dict[str, Any]:
    """Plain numpy/scipy per column on the raw values: KS + PSI, chi-squared + PSI."""
    from scipy import stats

    ref = _read_frame(p["ref"])
    cur = _read_frame(p["cur"])
    meter = Meter()
    pvalues: dict[str, float] = {}
    psis: dict[str, float] = {}
    for name in NUMERIC:
        r = ref[name].to_numpy(dtype=np.float64, na_value=np.nan)
        c = cur[name].to_numpy(dtype=np.float64, na_value=np.nan)
        r, c = r[~np.isnan(r)], c[~np.isnan(c)]
        pvalues[name] = float(stats.ks_2samp(r, c).pvalue)
        edges = np.unique(np.quantile(r, np.linspace(0.0, 1.0, 11)))
        edges[0], edges[-1] = -np.inf, np.inf
        psis[name] = _psi(
            np.histogram(r, bins=edges)[0].astype(np.float64),
            np.histogram(c, bins=edges)[0].astype(np.float64),
        )
    for name in CATEGORICAL:
        rc = ref[name].value_counts(dropna=True)
        cc = cur[name].value_counts(dropna=True)
        keys = rc.index.union(cc.index)
        r_counts = rc.reindex(keys, fill_value=0).to_numpy(dtype=np.float64)
        c_counts = cc.reindex(keys, fill_value=0).to_numpy(dtype=np.float64)
        expected = (r_counts + 0.5) / (r_counts + 0.5).sum() * c_counts.sum()
        pvalues[name] = float(stats.chisquare(c_counts, expected).pvalue)
        psis[name] = _psi(r_counts, c_counts)
    out = meter.stop()
    alpha = 0.05 / len(pvalues)
    out["flagged"] = [k for k in pvalues if pvalues[k] < alpha and psis[k] >= 0.1]
    out.update(rows=len(cur), columns=cur.shape[1])
    return out


def _hist_sorted(sorted_present: FloatArray, edges: tuple[float, ...]) -> tuple[int, ...]:
    """``Histogram.of`` counts from sorted values: searchsorted of the edges, not of the values."""
    e = np.asarray(edges, dtype=np.float64)
    below = np.searchsorted(sorted_present, e, side="left")  # values < edge_i
    last = np.searchsorted(sorted_present, e[-1], side="right")  # last bin closed on the right
    cum = np.concatenate(([0], below[:-1], [last, sorted_present.size]))
    return tuple(int(c) for c in np.diff(cum))


def _observe_numeric_sorted(data: Any, reference: Any) -> dict[str, Any]:
    """What-if (bench code, not Shipyard): ``observe`` of numerical columns, one sort per column."""
    from shipyard.stats.profile import Histogram, Moments, NumericProfile, _window_float

    out: dict[str, Any] = {}
    for name, ref in reference.columns.items():
        values = _window_float(data[name])
        missing = np.isnan(values)
        present = values[~missing]
        finite = present[np.isfinite(present)]
        ordered = np.sort(present)
        edges, sketch_edges = ref.histogram.edges, ref.sketch.edges
        out[name] = NumericProfile(
            kind="numeric",
            rows=int(values.size),
            missing=int(missing.sum()),
            infinite=int(present.size - finite.size),
            moments=Moments.of(finite),
            histogram=Histogram(edges=edges, counts=_hist_sorted(ordered, edges)),
            sketch=Histogram(edges=sketch_edges, counts=_hist_sorted(ordered, sketch_edges)),
        )
    return out


def _top(prof: cProfile.Profile, limit: int) -> list[dict[str, Any]]:
    st = pstats.Stats(prof)
    total = max(st.total_tt, 1e-9)  # type: ignore[attr-defined]
    rows: list[dict[str, Any]] = []
    entries = st.stats.items()  # type: ignore[attr-defined]
    for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in entries:
        short = filename
        for marker in ("site-packages/", "/src/"):
            if marker in filename:
                short = filename.split(marker, 1)[1]
                break
        where = f"{short}:{line}({func})" if line else func
        rows.append(
            {
                "function": where,
                "ncalls": ncalls,
                "tottime_s": tottime,
                "cumtime_s": cumtime,
                "share": tottime / total,
            }
        )
    rows.sort(key=lambda r: -r["tottime_s"])
    return rows[:limit]


def task_profile(p: dict[str, Any]) -> dict[str, Any]:
    """cProfile of observe + compare (one thread), and the what-if sorted histogram."""
    threads = _pin_threads()
    from shipyard.stats.drift.verdict import compare
    from shipyard.stats.profile import Histogram, observe

    reference, _ = _reference_profile(p["ref"])
    _warm_up(reference, p["cur"])
    cur = _read_frame(p["cur"])
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    window = observe(cur, reference)
    prof.disable()
    t1 = time.perf_counter()
    prof_cmp = cProfile.Profile()
    prof_cmp.enable()
    compare(reference, window)
    prof_cmp.disable()
    t2 = time.perf_counter()

    # the numerical part alone, Shipyard's Histogram.of against the what-if, same process
    numeric_ref = _numeric_part(reference)
    num = cur[list(NUMERIC)]
    shipyard_runs, whatif_runs, hist_s = [], [], []
    whatif: dict[str, Any] = {}
    for _ in range(p["repeats"]):
        c0 = time.process_time()
        base = observe(num, numeric_ref)
        shipyard_runs.append(time.process_time() - c0)
        c0 = time.process_time()
        whatif = _observe_numeric_sorted(num, numeric_ref)
        whatif_runs.append(time.process_time() - c0)
        c0 = time.process_time()
        for name, ref in numeric_ref.columns.items():
            present = num[name].to_numpy(dtype=np.float64, na_value=np.nan)
            present = present[~np.isnan(present)]
            Histogram.of(present, ref.histogram.edges)
            Histogram.of(present, ref.sketch.edges)
        hist_s.append(time.process_time() - c0)
    identical = all(whatif[k] == base.columns[k] for k in base.columns)
    cells = len(num) * len(NUMERIC)
    return {
        "threads": threads,
        "observe_s": t1 - t0,
        "compare_s": t2 - t1,
        "observe_top": _top(prof, p["limit"]),
        "compare_top": _top(prof_cmp, 8),
        "numeric_cells": cells,
        "shipyard_numeric_cpu_s": min(shipyard_runs),
        "histogram_of_cpu_s": min(hist_s),
        "whatif_numeric_cpu_s": min(whatif_runs),
        "whatif_identical": identical,
    }


def task_files(p: dict[str, Any]) -> dict[str, Any]:
    """``shipyard drift REF.parquet CUR.parquet``'s service, end to end: the reference file read and
    profiled, the current file read in runs of row groups of >= 100k rows one column at a time per
    thread, profiled and compared."""
    from shipyard.monitoring.file_drift import drift

    reference, _ = _reference_profile(p["ref"])
    _warm_up(reference, p["cur"])
    del reference
    meter = Meter()
    report = drift(p["ref"], p["cur"], batch_rows=p["batch_rows"])
    out = meter.stop()
    out.update(rows=report.rows, columns=len(report.result.columns), flagged=report.drifted)
    return out


def task_size(p: dict[str, Any]) -> dict[str, Any]:
    """The in-memory size of the current data: one pandas DataFrame, and the Arrow table."""
    table = pq.read_table(p["cur"])
    arrow = table.nbytes
    frame = table.to_pandas()
    del table
    return {"pandas_mb": frame.memory_usage(deep=True).sum() / 2**20, "arrow_mb": arrow / 2**20}


TASKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "files": task_files,
    "size": task_size,
    "memory": task_memory,
    "core": task_core,
    "stream": task_stream,
    "baseline": task_baseline,
    "profile": task_profile,
}


# --------------------------------------------------------------------------------------------------
# Evidently (a script run by the other virtualenv's python; it never imports shipyard)

EVIDENTLY_CHILD = r"""
import gc, json, math, os, sys, time
from pathlib import Path

import pyarrow.parquet as pq
import evidently
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

ref_path, cur_path, rows, out_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]


def status_mb():
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def busy():
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _i, _w, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


ref = pq.read_table(ref_path).to_pandas()
table = pq.read_table(cur_path)
if rows > 0:
    table = table.slice(0, rows)
cur = table.to_pandas()
del table
numerical = [c for c in ref.columns if c.startswith("num_")]
categorical = [c for c in ref.columns if c.startswith("cat_")]
definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
t0 = time.perf_counter()
ref_ds = Dataset.from_pandas(ref, data_definition=definition)
cur_ds = Dataset.from_pandas(cur, data_definition=definition)
dataset_s = time.perf_counter() - t0
gc.collect()
import pyarrow

pyarrow.default_memory_pool().release_unused()
rss_before = status_mb()["VmRSS"]
try:
    Path("/proc/self/clear_refs").write_text("5")
    reset = True
except OSError:
    reset = False
t0, own0, all0 = time.perf_counter(), time.process_time(), busy()
snapshot = Report([DataDriftPreset()]).run(current_data=cur_ds, reference_data=ref_ds)
wall = time.perf_counter() - t0
own = time.process_time() - own0
other = (busy() - all0 - own) / wall
peak = status_mb()["VmHWM"] if reset else None
flagged, methods, share = [], {}, None
for metric in snapshot.dict()["metrics"]:
    cfg, value = metric.get("config", {}), metric.get("value")
    if cfg.get("type", "").endswith("DriftedColumnsCount"):
        share = value
    elif cfg.get("type", "").endswith("ValueDrift"):
        method, threshold = str(cfg.get("method")), float(cfg.get("threshold"))
        methods[method] = methods.get(method, 0) + 1
        is_p = "p_value" in method or "p-value" in method
        if value is not None and (value < threshold if is_p else value >= threshold):
            flagged.append(cfg.get("column"))
Path(out_path).write_text(json.dumps({
    "version": evidently.__version__, "rows": len(cur), "columns": cur.shape[1],
    "wall_s": wall, "cpu_s": own, "other_cpu": max(0.0, other), "dataset_s": dataset_s,
    "rss_before_mb": rss_before, "peak_rss_mb": peak, "peak_is_lifetime": False,
    "added_mb": None if peak is None else max(0.0, peak - rss_before),
    "flagged": flagged, "methods": methods, "drifted_count": share,
}))
"""


# --------------------------------------------------------------------------------------------------
# parent: run the children, render


class ChildError(RuntimeError):
    pass


def run_child(
    task: str, params: dict[str, Any], *, one_thread: bool = False, timeout: float = CHILD_TIMEOUT_S
) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), *filter(None, [env.get("PYTHONPATH")])])
    if one_thread:
        env.update(dict.fromkeys(THREAD_ENV, "1"))
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = Path(fh.name)
    try:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", task]
        cmd += ["--params", json.dumps(params), "--out", str(out)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise ChildError(f"child {task!r} failed ({proc.returncode}): {proc.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(out.read_text())
        return result
    finally:
        out.unlink(missing_ok=True)


def run_evidently(
    python: str, ref: Path, cur: Path, rows: int, timeout: float, folder: Path
) -> dict[str, Any]:
    script = folder / "evidently_child.py"
    script.write_text(EVIDENTLY_CHILD)
    out = folder / "evidently.json"
    env = dict(os.environ, DO_NOT_TRACK="1")
    env.pop("PYTHONPATH", None)
    try:
        proc = subprocess.run(
            [python, str(script), str(ref), str(cur), str(rows), str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within the {timeout:.0f} s budget", "rows": rows}
    except OSError as exc:
        return {"error": f"cannot run {python}: {exc}"}
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or ["(no output)"]
        return {"error": f"exit {proc.returncode}: {lines[-1]}", "stderr": proc.stderr[-4000:]}
    result: dict[str, Any] = json.loads(out.read_text())
    return result


@dataclass
class Results:
    machine: dict[str, Any]
    params: dict[str, Any]
    setup: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, Any] | None = None
    memory_small: dict[str, Any] | None = None
    core: dict[str, Any] | None = None
    stream: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    """reader -> rows -> result."""
    baseline: dict[str, Any] | None = None
    files: dict[str, Any] | None = None
    """``shipyard drift`` on the files (``monitoring.file_drift.drift``)."""
    size: dict[str, Any] | None = None
    """In-memory size of the current data."""
    evidently: dict[str, Any] | None = None
    evidently_note: str = ""
    profile: dict[str, Any] | None = None
    targets: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "params": self.params,
            "setup": self.setup,
            "shipyard_in_memory": self.memory,
            "shipyard_in_memory_evidently_rows": self.memory_small,
            "binned_core": self.core,
            "shipyard_streaming": {
                reader: {str(n): r for n, r in runs.items()} for reader, runs in self.stream.items()
            },
            "baseline_numpy_scipy": self.baseline,
            "shipyard_drift_files": self.files,
            "current_in_memory": self.size,
            "evidently": self.evidently,
            "evidently_note": self.evidently_note,
            "profile": self.profile,
            "targets": self.targets,
            "errors": self.errors,
        }


def cells_per_s(r: dict[str, Any] | None, key: str = "wall_s") -> float | None:
    if not r or "error" in r or not r.get(key):
        return None
    return float(r["rows"] * r["columns"] / r[key])


def _m(value: float | None) -> str:
    return "-" if value is None else f"{value / 1e6:,.2f} M"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _mb(r: dict[str, Any] | None, key: str = "peak_rss_mb") -> str:
    if not r or r.get(key) is None:
        return "-"
    star = "*" if r.get("peak_is_lifetime") else ""
    return f"{r[key]:,.0f}{star}"


def _added(r: dict[str, Any] | None) -> str:
    if not r or r.get("added_mb") is None:
        return "-"
    return f"{r['added_mb']:,.0f}"


def _noise(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"[bold red]{value:.2f}[/]" if value > NOISY_CPU else f"{value:.2f}"


def _flagged(r: dict[str, Any] | None, expected: tuple[str, ...] = EXPECTED_DRIFT) -> str:
    """Flagged columns against the expected set: "6 = expected", or "5: -num_05 +num_07"."""
    if not r or "flagged" not in r:
        return "-"
    flagged = set(r["flagged"])
    missing = [c for c in expected if c not in flagged]
    extra = sorted(flagged - set(expected))
    if not missing and not extra:
        return f"{len(flagged)} = expected"
    diff = " ".join([*(f"-{c}" for c in missing), *(f"+{c}" for c in extra)])
    return f"{len(flagged)}: [yellow]{diff}[/]"


def _cores(r: dict[str, Any] | None) -> str:
    if not r or not r.get("wall_s"):
        return "-"
    return f"{r['cpu_s'] / r['wall_s']:.2f}"


def main_table(res: Results) -> Table:
    rows = res.params["rows"]
    table = Table(
        title=f"Drift of {rows:,} current rows x {N_COLUMNS} columns against a {REF_ROWS:,}-row "
        "reference",
        title_justify="left",
    )
    for name, justify in (
        ("path", "left"),
        ("rows", "right"),
        ("wall s", "right"),
        ("median s", "right"),
        ("cells/s", "right"),
        ("peak RSS MB", "right"),
        ("+RSS MB", "right"),
        ("own CPU", "right"),
        ("other CPU", "right"),
        ("flagged columns", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]

    def add(
        label: str, r: dict[str, Any] | None, expected: tuple[str, ...] = EXPECTED_DRIFT
    ) -> None:
        if r is None:
            return
        if "error" in r:
            rows_ = f"{r['rows']:,}" if isinstance(r.get("rows"), int) else "-"
            table.add_row(label, rows_, *["-"] * 7, f"[red]{r['error']}[/]")
            return
        median = r.get("median_wall_s")
        table.add_row(
            label,
            f"{r['rows']:,}",
            _s(r["wall_s"]),
            _s(median) if median is not None else "-",
            _m(cells_per_s(r)),
            _mb(r),
            _added(r),
            _cores(r),
            _noise(r.get("other_cpu")),
            _flagged(r, expected),
        )

    add("shipyard drift REF.parquet CUR.parquet (service)", res.files)
    add("Shipyard in-memory (observe + compare)", res.memory)
    if res.core:
        core = res.core
        table.add_row(
            "Shipyard binned core (numeric observe, 1 thread)",
            f"{core['rows']:,}",
            _s(core["wall_s"]),
            _s(core.get("median_wall_s")),
            f"{_m(cells_per_s(core, 'best_cpu_s'))}/core",
            _mb(core),
            _added(core),
            _cores(core),
            _noise(core.get("other_cpu")),
            "-",
        )
    recipe = res.stream.get(READERS[0], {})
    if rows in recipe:
        add(f"Shipyard streaming (Parquet, {BATCH_ROWS // 1000}k batches)", recipe[rows])
    add("numpy/scipy baseline (KS+PSI, chi2+PSI)", res.baseline, NO_MISSING_TEST)
    add("Evidently 0.7 DataDriftPreset", res.evidently, NO_MISSING_TEST)
    add("Shipyard in-memory, Evidently's rows", res.memory_small)
    return table


def stream_table(res: Results) -> Table:
    table = Table(
        title=f"Streaming: peak memory vs window size ({BATCH_ROWS:,}-row batches, "
        f"{CHUNK_ROWS:,}-row row groups)",
        title_justify="left",
    )
    for name in ("reader", "rows", "wall s", "cells/s", "peak RSS MB", "+RSS MB", "vs smallest"):
        table.add_column(name, justify="left" if name == "reader" else "right")
    table.add_column("other CPU", justify="right")
    for reader, runs in res.stream.items():
        peaks = [r["peak_rss_mb"] for r in runs.values() if "error" not in r]
        low = min(peaks) if peaks else None
        for n, r in sorted(runs.items()):
            label = READER_LABELS[reader]
            if "error" in r:
                table.add_row(label, f"{n:,}", f"[red]{r['error']}[/]")
                continue
            ratio = f"{r['peak_rss_mb'] / low:.2f}x" if low else "-"
            table.add_row(
                label,
                f"{n:,}",
                _s(r["wall_s"]),
                _m(cells_per_s(r)),
                _mb(r),
                _added(r),
                ratio,
                _noise(r.get("other_cpu")),
            )
        table.add_section()
    return table


def compute_targets(res: Results) -> None:
    core_rate = cells_per_s(res.core, "best_cpu_s")
    if core_rate is not None:
        res.targets.append(
            {
                "target": f"binned statistics >= {CORE_TARGET / 1e6:.0f} M cells/s per core",
                "measured": f"{core_rate / 1e6:.2f} M cells/s per CPU-second (1 thread)",
                "pass": core_rate >= CORE_TARGET,
            }
        )
    for reader, runs in res.stream.items():
        peaks = {n: r["peak_rss_mb"] for n, r in runs.items() if "error" not in r}
        if len(peaks) < 2:
            continue
        ratio = max(peaks.values()) / min(peaks.values())
        sizes = " / ".join(f"{n // 1000:,}k: {v:,.0f}" for n, v in sorted(peaks.items()))
        res.targets.append(
            {
                "target": f"streaming peak RSS within {STREAM_RSS_TARGET}x across row counts, "
                f"{READER_LABELS[reader]}",
                "measured": f"{ratio:.2f}x ({sizes} MB)",
                "pass": ratio <= STREAM_RSS_TARGET,
            }
        )
    size = res.size if res.size and "error" not in res.size else {}
    size_mb = size.get("pandas_mb")
    if res.files and "error" not in res.files and size_mb:
        peak = res.files["peak_rss_mb"]
        res.targets.append(
            {
                "target": f"shipyard drift peak RSS <= {FILES_RSS_TARGET:.0f}x the current data in "
                "memory",
                "measured": f"{peak:,.0f} MB = {peak / size_mb:.2f}x the {size_mb:,.0f} MB pandas "
                f"DataFrame ({size['arrow_mb']:,.0f} MB as Arrow)",
                "pass": peak <= FILES_RSS_TARGET * size_mb,
            }
        )
    ev_ok = res.evidently is not None and "error" not in res.evidently
    if ev_ok and res.files and "error" not in res.files and res.evidently is not None:
        same_rows = res.evidently["rows"] == res.files["rows"]
        ratio = res.evidently["wall_s"] / res.files["wall_s"]
        cpu_ratio = res.evidently["cpu_s"] / res.files["cpu_s"]
        res.targets.append(
            {
                "target": f"shipyard drift <= 1/{EVIDENTLY_TARGET:.0f} of Evidently's time",
                "measured": f"{ratio:.1f}x faster: {res.files['wall_s']:.2f} s vs "
                f"{res.evidently['wall_s']:.1f} s on {res.evidently['rows']:,} rows "
                f"(CPU-time ratio {cpu_ratio:.1f}x)"
                + ("" if same_rows else f" (Shipyard on {res.files['rows']:,} rows)"),
                "pass": ratio >= EVIDENTLY_TARGET if same_rows else None,
            }
        )
    ev = cells_per_s(res.evidently)
    same = cells_per_s(res.memory_small)
    full = cells_per_s(res.memory)
    if ev and same and res.evidently and res.memory_small:
        ratio = same / ev
        cpu = res.evidently["cpu_s"] / res.memory_small["cpu_s"]
        extra = f"; full {res.params['rows']:,}-row run: {full / ev:.1f}x" if full else ""
        res.targets.append(
            {
                "target": f"Shipyard >= {EVIDENTLY_TARGET:.0f}x Evidently (cells/s)",
                "measured": f"{ratio:.1f}x on the same {res.evidently['rows']:,} rows "
                f"(CPU-time ratio {cpu:.1f}x){extra}",
                "pass": ratio >= EVIDENTLY_TARGET,
            }
        )
    else:
        res.targets.append(
            {
                "target": f"Shipyard >= {EVIDENTLY_TARGET:.0f}x Evidently (cells/s)",
                "measured": f"not measured: {res.evidently_note}",
                "pass": None,
            }
        )


def core_missed(res: Results) -> bool:
    rate = cells_per_s(res.core, "best_cpu_s")
    return rate is not None and rate < CORE_TARGET


def targets_table(res: Results) -> Table:
    table = Table(title="Targets", title_justify="left")
    table.add_column("target")
    table.add_column("measured")
    table.add_column("result")
    for t in res.targets:
        verdict = {True: "[green]PASS[/]", False: "[bold red]FAIL[/]", None: "[yellow]n/a[/]"}
        table.add_row(t["target"], t["measured"], verdict[t["pass"]])
    return table


def profile_tables(res: Results) -> list[Table]:
    prof = res.profile
    if not prof:
        return []
    top = Table(
        title=f"cProfile of observe() on {res.params['rows']:,} x {N_COLUMNS} (1 thread, "
        f"{prof['observe_s']:.2f} s under the profiler) -- top functions by own time",
        title_justify="left",
    )
    for name, justify in (
        ("function", "left"),
        ("calls", "right"),
        ("own s", "right"),
        ("cum s", "right"),
        ("share", "right"),
    ):
        top.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in prof["observe_top"]:
        top.add_row(
            r["function"],
            str(r["ncalls"]),
            f"{r['tottime_s']:.3f}",
            f"{r['cumtime_s']:.3f}",
            f"{r['share']:.0%}",
        )
    cmp_ = Table(
        title=f"cProfile of compare(): {prof['compare_s'] * 1000:.0f} ms under the profiler",
        title_justify="left",
    )
    for name in ("function", "calls", "own s", "share"):
        cmp_.add_column(name)
    for r in prof["compare_top"][:5]:
        cmp_.add_row(r["function"], str(r["ncalls"]), f"{r['tottime_s']:.3f}", f"{r['share']:.0%}")
    cells = prof["numeric_cells"]
    whatif = Table(
        title="Numerical observe, 20 columns, CPU seconds (1 thread, best of runs)",
        title_justify="left",
    )
    for name in ("variant", "CPU s", "cells/s per core"):
        whatif.add_column(name, justify="right" if name != "variant" else "left")
    whatif.add_row(
        "Shipyard observe (numerical columns)",
        f"{prof['shipyard_numeric_cpu_s']:.3f}",
        _m(cells / prof["shipyard_numeric_cpu_s"]),
    )
    whatif.add_row(
        "  of which 2 x Histogram.of per column (searchsorted of every value)",
        f"{prof['histogram_of_cpu_s']:.3f}",
        "",
    )
    same = "identical profiles" if prof["whatif_identical"] else "[red]profiles differ[/]"
    whatif.add_row(
        f"what-if: one np.sort + searchsorted of the edges ({same})",
        f"{prof['whatif_numeric_cpu_s']:.3f}",
        _m(cells / prof["whatif_numeric_cpu_s"]),
    )
    return [top, cmp_, whatif]


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import pandas as pd
    import scipy

    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "load_avg_1m": os.getloadavg()[0],
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "pyarrow": pa.__version__,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    summary = (__doc__ or "").splitlines()[0]
    parser = argparse.ArgumentParser(description=summary)
    parser.add_argument("--rows", type=int, default=1_000_000, help="current rows (1 000 000)")
    parser.add_argument("--quick", action="store_true", help="1 repeat, no 4x streaming run")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (3; quick: 1)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON (- stdout)")
    parser.add_argument("--profile", action="store_true", help="show the cProfile even on PASS")
    parser.add_argument(
        "--evidently-rows",
        type=int,
        default=0,
        help="current rows given to Evidently (0 = all, the default)",
    )
    parser.add_argument(
        "--evidently-timeout", type=float, default=900.0, help="Evidently time budget, s (900)"
    )
    parser.add_argument("--data-dir", type=Path, help="keep the Parquet files here (default: temp)")
    parser.add_argument("--child", choices=sorted(TASKS), help=argparse.SUPPRESS)
    parser.add_argument("--params", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


@contextlib.contextmanager
def data_folder(path: Path | None) -> Iterator[Path]:
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    folder = Path(tempfile.mkdtemp(prefix="shipyard-bench-drift-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_all(args: argparse.Namespace, console: Console) -> Results:
    rows: int = args.rows
    repeats = args.repeats or (1 if args.quick else 3)
    sizes = [max(1, rows // 4), rows] + ([] if args.quick else [rows * 4])
    ev_rows = min(args.evidently_rows, rows) if args.evidently_rows > 0 else rows
    res = Results(
        machine=machine_info(),
        params={
            "rows": rows,
            "reference_rows": REF_ROWS,
            "columns": N_COLUMNS,
            "repeats": repeats,
            "stream_sizes": sizes,
            "batch_rows": BATCH_ROWS,
            "quick": args.quick,
            "expected_drift": list(EXPECTED_DRIFT),
        },
    )
    t_start = time.perf_counter()
    with data_folder(args.data_dir) as folder:

        def step(label: str, key: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
            console.log(label)
            try:
                return fn()
            except (ChildError, subprocess.TimeoutExpired, OSError, ValueError) as exc:
                res.errors[key] = str(exc)
                console.log(f"[red]{key} failed:[/] {exc}")
                return {"error": str(exc).splitlines()[0][:120]}

        console.log(f"writing Parquet data: reference {REF_ROWS:,}, current {sizes} rows")
        ref, paths, gen_s = write_data(folder, sizes)
        res.setup["data_written_s"] = gen_s
        res.setup["file_mb"] = {n: p.stat().st_size / 2**20 for n, p in paths.items()}
        cur = str(paths[rows])
        common = {"ref": str(ref), "cur": cur, "repeats": repeats}
        res.size = step(
            "in-memory size of the current data", "size", lambda: run_child("size", common)
        )
        res.files = step(
            "shipyard drift on the files",
            "files",
            lambda: run_child("files", {**common, "batch_rows": BATCH_ROWS}),
        )
        res.memory = step("Shipyard in-memory", "memory", lambda: run_child("memory", dict(common)))
        if res.memory and "build_profile_s" in res.memory:
            res.setup["build_profile_s"] = res.memory["build_profile_s"]
        res.core = step(
            "binned core (1 thread)", "core", lambda: run_child("core", common, one_thread=True)
        )
        for reader in READERS:
            runs = res.stream.setdefault(reader, {})
            for n in sizes:
                params = {"ref": str(ref), "cur": str(paths[n]), "batch_rows": BATCH_ROWS}
                params["reader"] = reader
                runs[n] = step(
                    f"Shipyard streaming, {READER_LABELS[reader]}, {n:,} rows",
                    f"stream_{reader}_{n}",
                    lambda params=params: run_child("stream", params),  # type: ignore[misc]
                )
        res.baseline = step(
            "baseline numpy/scipy", "baseline", lambda: run_child("baseline", common)
        )

        python = os.environ.get(EVIDENTLY_ENV)
        if python:
            res.evidently = step(
                f"Evidently on {ev_rows:,} rows (budget {args.evidently_timeout:.0f} s)",
                "evidently",
                lambda: run_evidently(
                    python, ref, Path(cur), ev_rows, args.evidently_timeout, folder
                ),
            )
            if "error" in res.evidently:
                res.evidently_note = res.evidently["error"]
            else:
                res.memory_small = step(
                    f"Shipyard in-memory on the same {ev_rows:,} rows",
                    "memory_small",
                    lambda: run_child("memory", {**common, "rows": ev_rows}),
                )
        else:
            res.evidently_note = f"{EVIDENTLY_ENV} is not set"

        compute_targets(res)
        if core_missed(res) or args.profile:
            res.profile = step(
                "cProfile of observe/compare",
                "profile",
                lambda: run_child(
                    "profile", {**common, "limit": 12, "repeats": min(repeats, 2)}, one_thread=True
                ),
            )
            if res.profile and "error" in res.profile:
                res.profile = None
    res.setup["total_s"] = time.perf_counter() - t_start
    return res


def notes(res: Results) -> list[str]:
    m = res.machine
    out = [
        f"machine: {m['cpus']} CPUs ({m['cpu_model']}), load avg at start {m['load_avg_1m']:.2f}; "
        f"python {m['python']}, numpy {m['numpy']}, scipy {m['scipy']}, pandas {m['pandas']}, "
        f"pyarrow {m['pyarrow']}",
        f"setup (not timed): data generated and written in {res.setup.get('data_written_s', 0):.1f} s; "
        f"build_profile of the reference {res.setup.get('build_profile_s', math.nan):.2f} s; "
        f"whole run {res.setup.get('total_s', 0):.0f} s",
        f"wall s = best of {res.params['repeats']} (median next to it) for the in-memory and core "
        "rows, one run otherwise; own CPU / other CPU in cores; peak RSS = process high-water mark "
        "during the timed work (* = lifetime), +RSS = peak minus RSS before it",
        f"expected flagged columns: {' '.join(EXPECTED_DRIFT)}; the baseline and Evidently have "
        "no missing-share test, so num_05 (only its missing share changes) is not expected from "
        "them; -col / +col = missed / extra",
    ]
    if res.stream:
        out.append(
            "streaming readers: a single ParquetFile.iter_batches over a multi-row-group file keeps "
            "the row groups it decoded allocated until the ParquetFile is dropped (pyarrow "
            f"{pa.__version__}), so its peak grows with the file; iterating per row group isolates "
            "Shipyard's own memory; DuckDB's reader (the monitor's) buffers ahead on its own"
        )
    if res.core and "threads" in res.core:
        pools = res.core["threads"].get("threadpoolctl")
        pinned = (
            ", ".join(f"{p['lib']}={p['threads']}" for p in pools)
            if pools
            else "threadpoolctl not installed"
        )
        out.append(
            f"binned core: cells/s per core = cells / CPU-seconds of the child (wall-time rate "
            f"{_m(cells_per_s(res.core))}/s); OMP/OPENBLAS/MKL_NUM_THREADS=1; threadpoolctl: {pinned}"
        )
    if res.evidently and "error" not in res.evidently:
        ev = res.evidently
        out.append(
            f"Evidently {ev['version']}: report.run on {ev['rows']:,} current rows (Dataset.from_pandas "
            f"{ev['dataset_s']:.2f} s not timed); methods {ev['methods']}; DriftedColumnsCount "
            f"{ev['drifted_count']}"
        )
    elif res.evidently_note:
        out.append(f"Evidently: {res.evidently_note}")
    if res.profile:
        p = res.profile
        cells = p["numeric_cells"]
        out.append(
            f"profile: Histogram.of (two searchsorted of every value per numerical column) takes "
            f"{p['histogram_of_cpu_s']:.2f} of {p['shipyard_numeric_cpu_s']:.2f} CPU s of numerical "
            f"observe ({p['histogram_of_cpu_s'] / p['shipyard_numeric_cpu_s']:.0%}); one np.sort of "
            f"the present values + searchsorted of the edges into them gives "
            f"{cells / p['whatif_numeric_cpu_s'] / 1e6:.1f} M cells/s per core "
            f"({'identical' if p['whatif_identical'] else 'DIFFERENT'} profiles)"
        )
    for key, err in res.errors.items():
        out.append(f"[red]error[/] {key}: {err.splitlines()[-1][:200]}")
    return out


def render(res: Results, console: Console) -> None:
    console.print(main_table(res))
    if res.stream:
        console.print(stream_table(res))
    console.print(targets_table(res))
    if res.profile and (core_missed(res) or res.params.get("show_profile")):
        for table in profile_tables(res):
            console.print(table)
    for line in notes(res):
        console.print(f"- {line}", highlight=False)


def child_main(args: argparse.Namespace) -> int:
    result = TASKS[args.child](json.loads(args.params))
    Path(args.out).write_text(json.dumps(result, default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args)
    console = Console() if sys.stdout.isatty() else Console(width=150)
    res = run_all(args, console)
    res.params["show_profile"] = args.profile
    render(res, console)
    if args.json:
        text = json.dumps(res.to_dict(), indent=2, default=str)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text)
    failed = [t for t in res.targets if t["pass"] is False]
    return 1 if failed or res.errors else 0


if __name__ == "__main__":
    sys.exit(main())
