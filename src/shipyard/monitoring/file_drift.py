"""Drift of a batch of data (a file or a DataFrame) against a reference, without a server.

``drift`` is what ``shipyard drift`` and ``shipyard.drift()`` call: the reference is a DataFrame, a
Parquet/CSV file (profiled once, in memory) or a model reference such as ``churn@champion`` (its
package's reference profile, as a monitor uses); the current data is a DataFrame or a Parquet/CSV
file, local or any fsspec URL, read in batches (Parquet row groups split into ``batch_rows``
batches, CSV blocks) and profiled batch by batch on the reference's edges and categories, so memory
does not grow with the file. The statistics, the verdict and the JSON shape are the monitor's
(``monitor.dataset_dict``): per column a boolean ``drift`` and every statistic, plus the dataset
verdict.

Raw values of numerical columns are kept only while the file has at most
``DriftConfig.exact_max_rows`` rows (then KS and Wasserstein use them); larger files are compared
on the sketches.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from shipyard.core.errors import InvalidArgument, NotFound
from shipyard.monitoring.monitor import dataset_dict
from shipyard.package.bundle import PROFILE_FILE
from shipyard.registry.service import RegistryService
from shipyard.stats.drift.base import CATEGORICAL, NUMERIC, stattest_named
from shipyard.stats.drift.verdict import DatasetDrift, DriftConfig, compare
from shipyard.stats.profile import Batch, DatasetProfile, build_profile, numeric_values, observe

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

DEFAULT_BATCH_ROWS = 100_000
MAX_THREADS = 4
PARQUET = (".parquet", ".pq")
CSV = (".csv", ".csv.gz", ".tsv")

Progress = Callable[[int, int | None], None]
"""Called after each batch with the rows read so far and the total when known (Parquet)."""
Data = pd.DataFrame | str | Path
Registry = RegistryService | Callable[[], RegistryService]
"""A registry, or a function that opens one when a model reference needs it."""


@dataclass(frozen=True)
class DriftReport:
    """Drift of a batch of data against a reference: the verdict, per column, and the profiles."""

    reference: str
    """What the reference was: a file, a model reference, or "DataFrame"."""
    current: str
    rows: int
    result: DatasetDrift
    reference_profile: DatasetProfile
    current_profile: DatasetProfile
    unexpected_columns: list[str] = field(default_factory=list)
    """Columns of the current data the reference does not have (not tested)."""

    @property
    def drift(self) -> bool:
        return self.result.drift

    @property
    def drifted(self) -> list[str]:
        return list(self.result.drifted)

    def to_dict(self) -> dict[str, Any]:
        """The shape of ``shipyard monitor run --json``: ``features`` per column, ``dataset``."""
        data = dataset_dict(self.result)
        return {
            "reference": self.reference,
            "current": self.current,
            "rows": self.rows,
            "features": data.pop("columns"),
            "dataset": data,
            "schema": {"unexpected_columns": list(self.unexpected_columns)},
        }


def drift_config(stattest: str | None = None, base: DriftConfig | None = None) -> DriftConfig:
    """``base`` (default ``DriftConfig()``) with ``stattest`` as the significance test of every
    column kind it handles; it must give a p-value (``ks``, ``chisquare`` or a plugin's)."""
    config = base or DriftConfig()
    if stattest is None:
        return config
    test = stattest_named(stattest)
    if not getattr(test, "gives_p_value", True):
        raise InvalidArgument(
            f"stat test {stattest!r} is a distance without a p-value; "
            "choose a significance test such as ks or chisquare"
        )
    primary = dict(config.primary)
    for kind in (NUMERIC, CATEGORICAL):
        if kind in test.kinds:
            primary[kind] = stattest
    return replace(config, primary=primary)


def drift(
    reference: Data,
    current: Data,
    *,
    registry: Registry | None = None,
    columns: Sequence[str] | None = None,
    config: DriftConfig | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: Progress | None = None,
    threads: int | None = None,
) -> DriftReport:
    """Compare ``current`` with ``reference`` (see the module docstring); ``registry`` resolves
    model references. Columns are profiled by ``threads`` threads (default: the CPUs, at most
    ``MAX_THREADS``)."""
    config = config or DriftConfig()
    threads = threads or min(MAX_THREADS, os.cpu_count() or 1)
    if threads < 1:
        raise InvalidArgument(f"threads must be >= 1, got {threads}")
    window: DatasetProfile | None = None
    raw: dict[str, list[npt.NDArray[np.float64]]] = {}
    unexpected: set[str] = set()
    rows = 0
    with ThreadPoolExecutor(threads, thread_name_prefix="shipyard-drift") as pool:
        profile, ref_name = reference_profile(reference, registry=registry, executor=pool)
        if columns:
            profile = _only(profile, columns)
        wanted = list(profile.columns)
        total = total_rows(current) if progress is not None else None
        for batch in current_batches(current, wanted if columns else None, batch_rows):
            names = batch.columns if isinstance(batch, pd.DataFrame) else batch.schema.names
            unexpected |= {str(c) for c in names} - set(wanted)
            part = observe(batch, profile, executor=pool)
            window = part if window is None else window.merge(part)
            rows += len(batch)
            if rows <= config.exact_max_rows:
                for name, finite in numeric_values(batch, profile).items():
                    raw.setdefault(name, []).append(finite)
            else:
                raw.clear()  # too many rows for raw values: the sketches decide
            if progress is not None:
                progress(rows, total)
    if window is None:
        window = observe(pd.DataFrame(), profile)
    small = rows <= config.exact_max_rows
    values = {k: np.concatenate(v) for k, v in raw.items()} if small else None
    return DriftReport(
        reference=ref_name,
        current=_name(current),
        rows=rows,
        result=compare(profile, window, values, config),
        reference_profile=profile,
        current_profile=window,
        unexpected_columns=sorted(unexpected),
    )


def reference_profile(
    reference: Data, *, registry: Registry | None = None, executor: Executor | None = None
) -> tuple[DatasetProfile, str]:
    """The reference's input profile and a name for it: built from a DataFrame or a file, or read
    from the package of a model reference."""
    if isinstance(reference, pd.DataFrame):
        return build_profile(reference, executor=executor), "DataFrame"
    text = str(reference)
    kind = _file_kind(text)
    if kind is not None:
        with _opened(text) as source:
            if kind == "parquet":  # every row group at once, read one column at a time
                (whole,) = ParquetRows.chunks(source, text, None, batch_rows=2**62)
                return build_profile(whole, executor=executor), text
            batches = list(_csv_batches(source, text, kind, None, DEFAULT_BATCH_ROWS))
        import pyarrow as pa

        with _reading(text):
            table = pa.Table.from_batches(batches)
        return build_profile(table, executor=executor), text
    if registry is None:
        raise InvalidArgument(f"{text!r} is not a .parquet or .csv file")
    if not isinstance(registry, RegistryService):
        registry = registry()
    try:
        version = registry.resolve(text)
    except (InvalidArgument, NotFound) as exc:
        raise InvalidArgument(
            f"reference {text!r} is neither a .parquet/.csv file nor a model reference: {exc}"
        ) from exc
    raw = registry.package_file(version, PROFILE_FILE)
    stored: Mapping[str, Any] = json.loads(raw) if raw else {}
    if "inputs" not in stored:
        raise NotFound(f"{version.ref} has no reference profile (package it with a data sample)")
    return DatasetProfile.from_dict(stored["inputs"]), version.ref


def current_batches(
    current: Data, columns: Sequence[str] | None, batch_rows: int
) -> Iterator[Batch]:
    """The current data in batches of about ``batch_rows`` rows: DataFrame slices, CSV record
    batches, or Parquet row groups (``ParquetRows``, whole row groups, read one column at a time)."""
    if isinstance(current, pd.DataFrame):
        frame = current if columns is None else current[[c for c in columns if c in current]]
        for start in range(0, max(len(frame), 1), batch_rows):
            yield frame.iloc[start : start + batch_rows]
        return
    text = str(current)
    kind = _file_kind(text)
    if kind is None:
        raise InvalidArgument(f"{text}: expected a .parquet or .csv file (local path or URL)")
    with _opened(text) as source:
        if kind == "parquet":
            yield from ParquetRows.chunks(source, text, columns, batch_rows)
        else:
            yield from _csv_batches(source, text, kind, columns, batch_rows)


class ParquetRows:
    """Some row groups of a Parquet file, whose columns are read when asked for: ``observe`` and
    ``build_profile`` take one column at a time per thread, so memory holds a column of these rows
    per thread, not every column (and no pandas copy). Reads of one file take turns (``lock``):
    Parquet's reader is not meant for concurrent use. Valid while ``chunks`` is iterated."""

    def __init__(
        self,
        parquet: pq.ParquetFile,
        url: str,
        groups: list[int],
        names: list[str],
        lock: threading.Lock,
    ):
        import pyarrow as pa

        self._parquet, self._url, self._groups, self._lock = parquet, url, groups, lock
        self.schema = pa.schema([parquet.schema_arrow.field(name) for name in names])
        self.num_rows = sum(parquet.metadata.row_group(g).num_rows for g in groups)

    def __len__(self) -> int:
        return int(self.num_rows)

    def column(self, name: str) -> pa.ChunkedArray:
        with self._lock, _reading(self._url):
            table = self._parquet.read_row_groups(self._groups, columns=[name], use_threads=False)
        return table.column(0)

    @classmethod
    def chunks(
        cls, source: Any, url: str, columns: Sequence[str] | None, batch_rows: int
    ) -> Iterator[ParquetRows]:
        """The file in runs of whole row groups of at least ``batch_rows`` rows (or the rest)."""
        import pyarrow.parquet as pq

        with _reading(url):
            parquet = pq.ParquetFile(source)
        names = _data_columns(parquet.schema_arrow)
        if columns is not None:
            names = [c for c in columns if c in names]
        lock = threading.Lock()
        groups: list[int] = []
        rows = 0
        for group in range(parquet.metadata.num_row_groups):
            groups.append(group)
            rows += parquet.metadata.row_group(group).num_rows
            if rows >= batch_rows:
                yield cls(parquet, url, groups, names, lock)
                groups, rows = [], 0
        if groups or parquet.metadata.num_row_groups == 0:
            yield cls(parquet, url, groups, names, lock)


def _data_columns(schema: pa.Schema) -> list[str]:
    """The columns of a Parquet file but the index pandas stored with a DataFrame."""
    index = (schema.pandas_metadata or {}).get("index_columns", [])
    return [name for name in schema.names if name not in index]


def _csv_batches(
    source: Any, url: str, kind: str, columns: Sequence[str] | None, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    from pyarrow import csv

    with _reading(url):
        reader = csv.open_csv(
            source,
            read_options=csv.ReadOptions(block_size=16 << 20),
            parse_options=csv.ParseOptions(delimiter="\t" if kind == "tsv" else ","),
        )
    while True:
        with _reading(url):
            batch = next(reader, None)
        if batch is None:
            return
        if columns is not None:
            batch = batch.select([c for c in columns if c in batch.schema.names])
        for start in range(0, batch.num_rows, batch_rows):
            yield batch.slice(start, batch_rows)


@contextlib.contextmanager
def _opened(url: str) -> Iterator[Any]:
    """A local path as is (Arrow reads it with its own file system), else an fsspec file."""
    if "://" not in url:
        yield url
        return
    import fsspec

    with _reading(url):
        handle = fsspec.open(url, "rb", compression="infer").open()
    try:
        yield handle
    finally:
        handle.close()


@contextlib.contextmanager
def _reading(url: str) -> Iterator[None]:
    """Errors of reading ``url`` as one line (``InvalidArgument``)."""
    import pyarrow as pa

    try:
        yield
    except FileNotFoundError as exc:
        raise InvalidArgument(f"{url} does not exist") from exc
    except (OSError, pa.ArrowException, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidArgument(f"cannot read {url}: {reason}") from exc


def total_rows(current: Data) -> int | None:
    """Rows of the current data when cheap to know (a DataFrame, Parquet metadata), else None."""
    if isinstance(current, pd.DataFrame):
        return len(current)
    url = str(current)
    if _file_kind(url) != "parquet":
        return None
    import fsspec
    import pyarrow.parquet as pq

    try:
        with fsspec.open(url, "rb") as handle:
            return int(pq.ParquetFile(handle).metadata.num_rows)
    except Exception:  # the count only feeds a progress bar
        return None


def _file_kind(text: str) -> str | None:
    """ "parquet", "csv" or "tsv" by suffix; None for anything else that is not a local file."""
    lower = text.lower()
    if lower.endswith(PARQUET):
        return "parquet"
    if lower.endswith(".tsv"):
        return "tsv"
    if lower.endswith(CSV):
        return "csv"
    if Path(text).exists():
        raise InvalidArgument(f"{text}: expected a .parquet or .csv file")
    return None


def _name(data: Data) -> str:
    return "DataFrame" if isinstance(data, pd.DataFrame) else str(data)


def _only(profile: DatasetProfile, columns: Sequence[str]) -> DatasetProfile:
    unknown = [c for c in columns if c not in profile.columns]
    if unknown:
        known = ", ".join(list(profile.columns)[:20])
        raise InvalidArgument(f"--columns: the reference has no column {unknown[0]!r} ({known})")
    return DatasetProfile(rows=profile.rows, columns={c: profile.columns[c] for c in columns})
