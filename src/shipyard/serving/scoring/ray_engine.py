"""The Ray engine of batch scoring: Ray Data reads the files, actors holding the model score blocks.

Each actor loads the pinned version once (through the job's picklable loader) and runs the same
``ChunkScorer`` as the local engine. An actor returns every input row of its block, in order, with
the scores and a ``__error`` column (null for scored rows), so that the driver, reading the result
in order (``preserve_order``), knows each row's position in its file whatever the block
boundaries: it splits scored rows from rejects and writes both through the same sinks as the local
engine. Actors write their own prediction-log segments (``route=batch``) to the shared log store.

Ray is an optional extra (``pip install 'shipyard[ray]'``), imported here only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from shipyard.core.errors import MissingDependency
from shipyard.serving.scoring.job import ModelLoader, ScoredStream
from shipyard.serving.scoring.scorer import (
    ERROR_COLUMN,
    PREDICTION,
    PROBA_PREFIX,
    ROW_COLUMN,
    ChunkScorer,
    Scored,
    ScoreOptions,
)
from shipyard.serving.scoring.tables import Source, filesystem, is_local
from shipyard.telemetry.writer import SegmentWriter

MARK = "__shipyard_error"
READ_CPUS = 0
"""Reads reserve no CPU: the scoring actors take one each, and reads waiting for a CPU the actors
hold would never run (a deadlock on a cluster with as many CPUs as actors)."""
DATA_CONTEXT = {
    "preserve_order": True,
    "enable_progress_bars": False,
    # Ray 2.60's Parquet reader (datasource V2) lists files in a task that takes a whole CPU and
    # starts after the actors: with every CPU held by an actor (1 CPU, 1 actor) it never runs and
    # the job hangs. The V1 reader lists on the driver.
    "use_datasource_v2": False,
}
"""Ray Data settings of a job, set on the driver's ``DataContext`` for its duration only."""


def import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise MissingDependency("ray", "ray") from exc
    return ray


class ScoringActor:
    """A Ray Data actor: holds one loaded version and scores blocks with it."""

    def __init__(
        self,
        loader: ModelLoader,
        ref: str,
        options: ScoreOptions,
        text_input: bool,
        logs_uri: str | None,
        log_storage_options: dict[str, Any] | None,
        job_id: str,
    ) -> None:
        self.writer = (
            SegmentWriter(
                logs_uri,
                max_queue_rows=max(4 * options.batch_size, 200_000),
                storage_options=log_storage_options,
            )
            if logs_uri is not None
            else None
        )
        everything = ScoreOptions(  # keep every input column: the driver selects the kept ones
            batch_size=options.batch_size,
            proba=options.proba,
            id_column=options.id_column,
            endpoint=options.endpoint,
        )
        self.scorer = ChunkScorer(
            loader(ref),
            everything,
            text_input=text_input,
            log_sink=self.writer.submit if self.writer is not None else None,
            job_id=job_id,
        )

    def __call__(self, block: pd.DataFrame | pa.Table) -> pd.DataFrame | pa.Table:
        scored = self.scorer.score(block)
        if self.writer is not None:
            self.writer.flush()
        if isinstance(scored.output, pa.Table):  # Parquet, every row scored: stays in Arrow
            rows = scored.output.num_rows
            return scored.output.append_column(MARK, pa.nulls(rows, pa.string()))
        return _marked(block.to_pandas() if isinstance(block, pa.Table) else block, scored)


def _marked(block: pd.DataFrame, scored: Scored) -> pd.DataFrame:
    """Every row of ``block`` in order: scored rows with their scores, rejects with their error."""
    out = scored.output
    assert isinstance(out, pd.DataFrame)  # the DataFrame path scored this block
    if not len(scored.rejects):
        return out.assign(**{MARK: pd.Series([None] * len(out), dtype=object)})
    bad_rows = scored.rejects[ROW_COLUMN].to_numpy()
    good = np.ones(len(block), dtype=bool)
    good[bad_rows] = False
    merged = block.reset_index(drop=True).copy()
    for column in [c for c in out.columns if c not in block.columns]:
        values = out[column].to_numpy()
        filler = values[0] if len(values) else None
        full = np.full(len(block), filler, dtype=values.dtype if len(values) else object)
        full[good] = values
        merged[column] = full
    errors = np.full(len(block), None, dtype=object)
    errors[bad_rows] = scored.rejects[ERROR_COLUMN].to_numpy()
    merged[MARK] = errors
    return merged


def _to_pandas(table: Any) -> pd.DataFrame:
    """Numpy-backed columns; a column Ray keeps as Python objects (mixed JSON types) as objects
    (Ray's own pandas dtype for it breaks boolean indexing)."""
    import pyarrow as pa

    columns = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if isinstance(column.type, pa.ExtensionType):
            columns[name] = pd.Series(column.to_pylist(), dtype=object)
        else:
            columns[name] = column.to_pandas()
    return pd.DataFrame(columns)


def _split(table: pa.Table, options: ScoreOptions) -> Scored:
    """Scored rows (with the kept columns) and rejects (with their position in ``table``); in
    Arrow when every row was scored."""
    if table.column(MARK).null_count == table.num_rows:
        out = table.drop_columns([MARK])
        if options.columns is not None:
            out = out.select([*options.columns, *_score_names(out.column_names)])
        return Scored(out, pd.DataFrame({ROW_COLUMN: pd.Series(dtype="int64")}))
    frame = _to_pandas(table)
    errors = frame[MARK]
    bad = errors.notna().to_numpy()
    frame = frame.drop(columns=MARK)
    scores = _score_names(frame.columns)
    good = frame[~bad] if bad.any() else frame
    if options.columns is not None:
        good = good[[*options.columns, *scores]]
    rejects = frame[bad].drop(columns=scores)
    rejects[ROW_COLUMN] = np.flatnonzero(bad)
    rejects[ERROR_COLUMN] = errors[bad].to_numpy()
    return Scored(good.reset_index(drop=True), rejects.reset_index(drop=True))


def _score_names(columns: Iterable[str]) -> list[str]:
    return [c for c in columns if c == PREDICTION or c.startswith(PROBA_PREFIX)]


def _dataset(ray: Any, source: Source) -> Any:
    import pyarrow.fs as pafs

    fs, path = filesystem(source.url, source.storage_options)
    arrow_fs = pafs.PyFileSystem(pafs.FSSpecHandler(fs))
    if source.format == "parquet":
        return ray.data.read_parquet(path, filesystem=arrow_fs, num_cpus=READ_CPUS)
    if source.format == "csv":
        return ray.data.read_csv(
            path, filesystem=arrow_fs, file_extensions=None, num_cpus=READ_CPUS
        )
    if is_local(fs):  # line by line: a column of mixed JSON types still reads (as objects)
        return ray.data.read_json(path, lines=True, file_extensions=None, num_cpus=READ_CPUS)
    return ray.data.read_json(path, filesystem=arrow_fs, file_extensions=None, num_cpus=READ_CPUS)


def score_on_ray(
    loader: ModelLoader,
    ref: str,
    sources: list[Source],
    options: ScoreOptions,
    *,
    logs_uri: str | None,
    log_storage_options: dict[str, Any] | None,
    address: str | None = None,
    workers: int | None = None,
    job_id: str = "",
) -> Iterator[ScoredStream]:
    """Score ``sources`` on a Ray cluster (the one running, ``address``, or a new local one)."""
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    before = {
        "preserve_order": context.execution_options.preserve_order,
        "enable_progress_bars": context.enable_progress_bars,
        "use_datasource_v2": context.use_datasource_v2,
    }
    try:
        _configure(context, DATA_CONTEXT)
        actors = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        checker = ChunkScorer(loader(ref), options)
        for source in sources:
            dataset = _dataset(ray, source)
            checker.check_columns(dataset.schema().names, source.url)
            total = source.rows()
            size = source.size()
            done = 0
            scored = dataset.map_batches(
                ScoringActor,
                fn_constructor_args=(
                    loader,
                    ref,
                    options,
                    source.format == "csv",
                    logs_uri,
                    log_storage_options,
                    job_id,
                ),
                batch_size=options.batch_size,
                # Parquet's typed columns take the Arrow path of ChunkScorer.score
                batch_format="pyarrow" if source.format == "parquet" else "pandas",
                compute=ray.data.ActorPoolStrategy(size=actors),
                num_cpus=1,
            )
            for batch in scored.iter_batches(batch_format="pyarrow", batch_size=None):
                done += batch.num_rows
                position = int(size * done / total) if total else 0
                yield ScoredStream(source, _split(batch, options), batch.num_rows, position)
    finally:
        _configure(context, before)
        if started_here:
            ray.shutdown()


def _configure(context: Any, values: dict[str, bool]) -> None:
    context.execution_options.preserve_order = values["preserve_order"]
    context.enable_progress_bars = values["enable_progress_bars"]
    context.use_datasource_v2 = values["use_datasource_v2"]


__all__ = ["ScoringActor", "score_on_ray"]
