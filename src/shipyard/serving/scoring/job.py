"""A batch job: score files with one model version, on the local engine or on Ray Data.

``BatchScoring.score`` resolves the reference once (every chunk, on every worker, uses that exact
version), streams the inputs chunk by chunk, writes the output (and the rejects, with
``--on-error skip``) through temporary files published only when the whole job succeeded, logs the
scored rows to the prediction log with ``route=batch``, and records one audit event.

Row numbers in messages and in the rejects file count data rows from 0 in each input file.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa

from shipyard.core.errors import InvalidArgument, SchemaError
from shipyard.registry.service import RegistryService
from shipyard.serving.runtime import LoadedVersion
from shipyard.serving.scoring.scorer import (
    ERROR_COLUMN,
    ROW_COLUMN,
    ChunkScorer,
    Scored,
    ScoreOptions,
)
from shipyard.serving.scoring.tables import Source, TableSink, file_format
from shipyard.telemetry.writer import SegmentWriter

Engine = Literal["local", "ray"]
SOURCE_COLUMN = "_source"

ModelLoader = Callable[[str], LoadedVersion]
"""Loads an exact version (``name/3``) into a warmed ``LoadedVersion``; picklable for Ray actors."""

Progress = Callable[[int, float | None], None]
"""Called after each chunk with the rows done and the fraction of input read (None if unknown)."""


@dataclass
class ScoreResult:
    version: str
    engine: str
    inputs: list[str]
    output: str
    rows: int = 0
    rejected: int = 0
    rejects: str | None = None
    seconds: float = 0.0
    logged_rows: int = 0
    job_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "engine": self.engine,
            "inputs": self.inputs,
            "output": self.output,
            "rows": self.rows,
            "rejected": self.rejected,
            "rejects": self.rejects,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1),
            "logged_rows": self.logged_rows,
            "job_id": self.job_id,
        }


def rejects_url_for(output: str) -> str:
    """``out.parquet`` -> ``out.rejects.parquet``."""
    file_format(output)
    head, _, suffix = output.rpartition(".")
    return f"{head}.rejects.{suffix}"


@dataclass
class ScoredStream:
    """What an engine yields: each scored chunk with the input file it came from."""

    source: Source
    scored: Scored
    rows_in: int
    position: int


class BatchScoring:
    """Batch scoring over the registry (one service for every adapter)."""

    def __init__(
        self,
        registry: RegistryService,
        loader: ModelLoader,
        *,
        logs_uri: str | None = None,
        log_storage_options: dict[str, Any] | None = None,
        file_options: Callable[[str], dict[str, Any]] | None = None,
    ) -> None:
        self.registry = registry
        self.loader = loader
        self.logs_uri = logs_uri
        self.log_storage_options = log_storage_options
        self.file_options = file_options or (lambda url: {})
        """fsspec options of an input or output file's URL."""

    def score(
        self,
        ref: str,
        inputs: Sequence[str],
        output: str,
        options: ScoreOptions | None = None,
        *,
        engine: Engine = "local",
        rejects: str | None = None,
        log: bool = True,
        progress: Progress | None = None,
        ray_address: str | None = None,
        ray_workers: int | None = None,
    ) -> ScoreResult:
        options = options or ScoreOptions()
        if not inputs:
            raise InvalidArgument("name at least one input file")
        if engine not in ("local", "ray"):
            raise InvalidArgument(f"--engine must be local or ray, got {engine!r}")
        version = self.registry.resolve(ref)
        pinned = f"{version.name}/{version.version}"
        sources = [Source.of(url, self.file_options(url)) for url in inputs]
        file_format(output)  # a clear error before any work
        rejects_url = rejects or rejects_url_for(output)
        writer = (
            SegmentWriter(
                self.logs_uri,
                max_queue_rows=max(4 * options.batch_size, 200_000),
                storage_options=self.log_storage_options,
            )
            if log and self.logs_uri is not None
            else None
        )
        result = ScoreResult(pinned, engine, list(inputs), output, job_id=uuid.uuid4().hex[:12])
        started = time.perf_counter()
        sink = TableSink(output, self.file_options(output))
        rejects_sink: TableSink | None = None
        try:
            if engine == "local":
                stream = self._local(pinned, sources, options, writer, result.job_id)
            else:
                from shipyard.serving.scoring.ray_engine import score_on_ray

                stream = score_on_ray(
                    self.loader,
                    pinned,
                    sources,
                    options,
                    logs_uri=self.logs_uri if writer is not None else None,
                    log_storage_options=self.log_storage_options,
                    job_id=result.job_id,
                    address=ray_address,
                    workers=ray_workers,
                )
            offsets: dict[str, int] = {}
            total = sum(s.size() for s in sources) or 1
            done_bytes: dict[str, int] = {}
            for item in stream:
                offset = offsets.get(item.source.url, 0)
                bad = item.scored.rejects
                if len(bad):
                    first = bad.iloc[0]
                    if options.on_error == "fail":
                        raise SchemaError(
                            f"{item.source.url} row {offset + int(first[ROW_COLUMN])}: "
                            f"{first[ERROR_COLUMN]} (--on-error skip sets such rows aside)",
                        )
                    bad = bad.assign(**{ROW_COLUMN: bad[ROW_COLUMN] + offset})
                    if len(sources) > 1:
                        bad[SOURCE_COLUMN] = item.source.url
                    if rejects_sink is None:
                        rejects_sink = TableSink(rejects_url, self.file_options(rejects_url))
                    rejects_sink.write(bad)
                    result.rejected += len(bad)
                sink.write(item.scored.output)
                offsets[item.source.url] = offset + item.rows_in
                result.rows += len(item.scored.output)
                done_bytes[item.source.url] = item.position
                if progress is not None:
                    progress(result.rows + result.rejected, sum(done_bytes.values()) / total)
            if writer is not None and engine == "local":
                writer.flush()
            sink.commit()
            if rejects_sink is not None:
                result.rejects = rejects_sink.commit()
        except BaseException:
            sink.abort()
            if rejects_sink is not None:
                rejects_sink.abort()
            raise
        finally:
            if writer is not None:
                writer.close()
                result.logged_rows = writer.written_rows
        result.seconds = time.perf_counter() - started
        if engine == "ray":
            result.logged_rows = result.rows if writer is not None else 0
        self.registry.record(
            "batch.score",
            pinned,
            {
                "engine": engine,
                "inputs": list(inputs),
                "output": output,
                "rows": result.rows,
                "rejected": result.rejected,
                "seconds": round(result.seconds, 3),
            },
        )
        return result

    def _local(
        self,
        pinned: str,
        sources: list[Source],
        options: ScoreOptions,
        writer: SegmentWriter | None,
        job_id: str,
    ) -> Iterator[ScoredStream]:
        loaded = self.loader(pinned)
        scorer = ChunkScorer(
            loaded, options, log_sink=writer.submit if writer else None, job_id=job_id
        )
        for source in sources:
            scorer.text_input = source.format == "csv"
            first = True
            for chunk, position in source.chunks(options.batch_size):
                if first:
                    names = chunk.column_names if isinstance(chunk, pa.Table) else chunk.columns
                    scorer.check_columns(list(names), source.url)
                    first = False
                scored = scorer.score(chunk)
                yield ScoredStream(source, scored, len(chunk), position)
                if writer is not None and writer.stats()["queued_rows"] >= options.batch_size:
                    writer.flush()


__all__ = ["BatchScoring", "Engine", "ModelLoader", "ScoreResult", "rejects_url_for"]
