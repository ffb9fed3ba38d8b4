"""Reading and writing the files a batch job scores: Parquet, CSV and JSONL, local or any fsspec URL.

Reading streams: Parquet by record batches of its row groups, CSV and JSONL by chunks of lines, so a
job holds one chunk at a time whatever the file's size. ``TableSink`` writes chunks to a temporary
file and publishes it only on ``commit``: renamed into place locally, uploaded in one call to an
object store. A failed or interrupted job leaves no output behind (and no partial object).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from shipyard.core.errors import InvalidArgument, MissingDependency, NotFound

Format = Literal["parquet", "csv", "jsonl"]
FORMATS: dict[str, Format] = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
TMP_PREFIX = ".tmp-"


def file_format(url: str) -> Format:
    """The format a file name implies (``.parquet``, ``.csv``, ``.jsonl``)."""
    name = url.rstrip("/").rsplit("/", 1)[-1].lower()
    for suffix, fmt in FORMATS.items():
        if name.endswith(suffix):
            return fmt
    raise InvalidArgument(f"{url}: expected a .parquet, .csv or .jsonl file")


def filesystem(url: str, storage_options: dict[str, Any] | None = None) -> tuple[Any, str]:
    """(fsspec filesystem, path) of a URL, with a clear error when its backend is missing."""
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    except ImportError as exc:
        raise MissingDependency(str(exc.name or "an fsspec backend"), "s3") from exc
    return fs, str(path)


def is_local(fs: Any) -> bool:
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return "file" in protocols or "local" in protocols


@dataclass(frozen=True)
class Source:
    """One input file."""

    url: str
    format: Format
    storage_options: dict[str, Any] | None = None

    @classmethod
    def of(cls, url: str, storage_options: dict[str, Any] | None = None) -> Source:
        source = cls(url, file_format(url), storage_options)
        fs, path = filesystem(url, storage_options)
        if not fs.exists(path):
            raise NotFound(f"input file {url} does not exist")
        return source

    def rows(self) -> int | None:
        """Row count from the Parquet footer; None for text formats (counted while reading)."""
        if self.format != "parquet":
            return None
        fs, path = filesystem(self.url, self.storage_options)
        with fs.open(path, "rb") as fh:
            return int(pq.ParquetFile(fh).metadata.num_rows)

    def size(self) -> int:
        fs, path = filesystem(self.url, self.storage_options)
        return int(fs.size(path))

    def chunks(self, rows: int) -> Iterator[tuple[pd.DataFrame | pa.Table, int]]:
        """(chunk, bytes read so far) of at most ``rows`` rows each, in file order: Arrow tables
        from Parquet, DataFrames from CSV and JSONL."""
        fs, path = filesystem(self.url, self.storage_options)
        try:
            if self.format == "parquet" and is_local(fs):
                yield from self._parquet_chunks(pq.ParquetFile(path), rows)  # native reads
                return
            with fs.open(path, "rb") as fh:
                yield from self._chunks(fh, rows)
        except (ValueError, OSError, pa.ArrowException) as exc:
            raise InvalidArgument(f"cannot read {self.url}: {exc}") from exc

    def _parquet_chunks(self, parquet: pq.ParquetFile, rows: int) -> Iterator[tuple[pa.Table, int]]:
        """Row group by row group: a single ``iter_batches`` over the whole file keeps every
        decoded row group allocated until the end (pyarrow 26), so memory would grow with the file."""
        total, size, done = parquet.metadata.num_rows or 1, self.size(), 0
        for group in range(parquet.num_row_groups):
            for batch in parquet.iter_batches(batch_size=rows, row_groups=[group]):
                done += batch.num_rows
                yield pa.Table.from_batches([batch]), int(size * done / total)

    def _chunks(self, fh: IO[bytes], rows: int) -> Iterator[tuple[pd.DataFrame | pa.Table, int]]:
        if self.format == "parquet":
            yield from self._parquet_chunks(pq.ParquetFile(fh), rows)
            return
        if self.format == "csv":
            reader: Any = pd.read_csv(fh, chunksize=rows)
        else:
            reader = pd.read_json(fh, orient="records", lines=True, chunksize=rows)
        with reader:
            for chunk in reader:
                yield chunk, fh.tell()


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """The columns worth dictionary encoding: all but floating point ones. Scores and
    measurements rarely repeat, and building a dictionary for them until it overflows made
    writing 7x slower (pyarrow 26, 30 float columns)."""
    return [f.name for f in schema if not pa.types.is_floating(f.type)]


class TableSink:
    """Chunks appended to a temporary file, published at ``url`` by ``commit`` (or never)."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.url = url
        self.format = file_format(url)
        self.fs, self.path = filesystem(url, storage_options)
        self.local = is_local(self.fs)
        name = self.path.rsplit("/", 1)[-1]
        if self.local:
            folder = Path(self.path).parent
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{name}.", dir=folder)
        else:
            fd, tmp = tempfile.mkstemp(prefix=f"shipyard-score-{name}.")
        self.tmp = Path(tmp)
        self._fh: IO[bytes] = os.fdopen(fd, "wb")
        self._parquet: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self.rows = 0

    def write(self, frame: pd.DataFrame | pa.Table) -> None:
        if self.format == "parquet":
            self._write_parquet(frame)
            self.rows += len(frame)
            return
        if isinstance(frame, pa.Table):
            frame = frame.to_pandas()
        if self.format == "csv":
            frame.to_csv(self._fh, header=self.rows == 0, index=False)
        else:
            if len(frame):
                text = frame.to_json(orient="records", lines=True, date_format="iso")
                self._fh.write(text.encode())
                if not text.endswith("\n"):
                    self._fh.write(b"\n")
        self.rows += len(frame)

    def _write_parquet(self, frame: pd.DataFrame | pa.Table) -> None:
        if isinstance(frame, pa.Table):
            table = frame.replace_schema_metadata(None)
            if self._schema is not None and not table.schema.equals(self._schema):
                table = table.cast(self._schema)
        else:
            table = pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False)
            table = table.replace_schema_metadata(None)
        if self._parquet is None:
            self._schema = table.schema
            self._fh.close()  # Arrow writes the file natively, not through a Python object
            self._parquet = pq.ParquetWriter(
                str(self.tmp),
                self._schema,
                compression="snappy",
                use_dictionary=dictionary_columns(self._schema),
            )
        self._parquet.write_table(table)

    def _close_file(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
            fd = os.open(self.tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()

    def commit(self) -> str:
        """Publish the file at its URL (an empty Parquet file still gets its schema's footer)."""
        try:
            self._close_file()
            if self.local:
                os.replace(self.tmp, self.path)
            else:
                self.fs.put_file(str(self.tmp), self.path)
        finally:
            self.tmp.unlink(missing_ok=True)
        return self.url

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._close_file()
        self.tmp.unlink(missing_ok=True)


__all__ = ["FORMATS", "Format", "Source", "TableSink", "file_format", "filesystem"]
