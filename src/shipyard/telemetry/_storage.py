"""Where log segments live: naming, listing and the write-then-publish protocol.

Layout under a log root (a local folder or any fsspec URL)::

    {root}/predictions/endpoint={endpoint}/date={YYYY-MM-DD}/part-{time_ns}-{pid}-{seq}.parquet
    {root}/feedback/date={YYYY-MM-DD}/part-{time_ns}-{pid}-{seq}.parquet

``endpoint`` is percent-encoded (``urllib.parse.quote(name, safe="")``), so a name can never add a
path level; DuckDB's hive partitioning decodes it back. ``date`` is the UTC day of the records'
timestamps (predictions) or of the label's arrival (feedback).

Publishing: on a local filesystem a segment is written to ``.tmp-part-...`` in the same folder,
fsynced, renamed to its final ``part-...`` name (atomic on POSIX), and the folder is fsynced. A
killed process leaves at most a ``.tmp-`` file, which readers never match. Object stores publish an
object atomically when its upload completes, so there the final key is written directly. Segments
are immutable once published: the log is append-only.

File names sort by creation time (``time_ns`` has a fixed 19 digits until the year 2286, ``seq`` is
zero-padded), which readers use to break ties between records with equal timestamps.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq

from shipyard.core.errors import InvalidArgument, MissingDependency

PREDICTIONS = "predictions"
FEEDBACK = "feedback"

_seq = itertools.count()
_seq_lock = threading.Lock()


def endpoint_dir(endpoint: str) -> str:
    """The partition folder name of an endpoint: ``endpoint=<percent-encoded name>``."""
    if not endpoint:
        raise InvalidArgument("an endpoint name must not be empty")
    return f"endpoint={quote(endpoint, safe='')}"


def date_dir(day: date) -> str:
    return f"date={day.isoformat()}"


def segment_name() -> str:
    """A fresh, unique, time-ordered segment file name."""
    with _seq_lock:
        seq = next(_seq)
    return f"part-{time.time_ns():019d}-{os.getpid()}-{seq:08d}.parquet"


def is_segment(name: str) -> bool:
    return name.startswith("part-") and name.endswith(".parquet")


class SegmentStore:
    """A log root on an fsspec filesystem: publish segments, list them for the readers."""

    def __init__(self, root: str, storage_options: dict[str, Any] | None = None) -> None:
        try:
            import fsspec
        except ImportError as exc:  # pragma: no cover - fsspec is a core dependency
            raise MissingDependency("fsspec", "s3") from exc
        try:
            self.fs, path = fsspec.core.url_to_fs(str(root), **(storage_options or {}))
        except ImportError as exc:
            raise MissingDependency(str(exc.name or "an fsspec backend"), "s3") from exc
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        self.local = "file" in protocols or "local" in protocols
        self.root: str = path.rstrip("/") or "/"
        self.url = str(root)

    # -- paths ----------------------------------------------------------------------------------

    def path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def read_url(self, path: str) -> str:
        """The name DuckDB (with this filesystem registered) opens ``path`` by."""
        return path if self.local else str(self.fs.unstrip_protocol(path))

    # -- writing --------------------------------------------------------------------------------

    def publish(self, parts: tuple[str, ...], table: pa.Table, *, compression: str) -> str:
        """Write ``table`` as a new segment in folder ``parts`` and return its final path."""
        name = segment_name()
        if self.local:
            folder = Path(self.path(*parts))
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".tmp-{name}"
            final = folder / name
            try:
                with open(tmp, "wb") as fh:
                    pq.write_table(table, fh, compression=compression)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, final)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            _fsync_dir(folder)
            return str(final)
        # Encode fully in memory, then upload in one call: a failure while encoding must not
        # leave a partial object behind (closing an fsspec file after an error still commits it).
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression=compression)
        target = self.path(*parts, name)
        self.fs.pipe_file(target, sink.getvalue().to_pybytes())
        return target

    # -- listing --------------------------------------------------------------------------------

    def _ls(self, path: str) -> list[str]:
        """Names (not paths) directly under ``path``; empty when it does not exist."""
        if self.local:
            try:
                with os.scandir(path) as it:
                    return [entry.name for entry in it]
            except (FileNotFoundError, NotADirectoryError):
                return []
        try:
            self.fs.invalidate_cache(path)
            entries = self.fs.ls(path, detail=False)
        except FileNotFoundError:
            return []
        return [str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries]

    def segments(
        self,
        dataset: str,
        *,
        endpoint: str | None = None,
        first_day: date | None = None,
        last_day: date | None = None,
    ) -> list[str]:
        """Published segment paths of a dataset, restricted to an endpoint and a day range."""
        base = self.path(dataset)
        if dataset == PREDICTIONS:
            if endpoint is not None:
                folders = [f"{base}/{endpoint_dir(endpoint)}"]
            else:
                folders = [
                    f"{base}/{n}" for n in sorted(self._ls(base)) if n.startswith("endpoint=")
                ]
        else:
            folders = [base]
        found: list[str] = []
        for folder in folders:
            for name in sorted(self._ls(folder)):
                if not name.startswith("date="):
                    continue
                try:
                    day = date.fromisoformat(name[5:])
                except ValueError:
                    continue
                if (first_day is not None and day < first_day) or (
                    last_day is not None and day > last_day
                ):
                    continue
                day_path = f"{folder}/{name}"
                found.extend(f"{day_path}/{n}" for n in sorted(self._ls(day_path)) if is_segment(n))
        return [self.read_url(p) for p in found]


def _fsync_dir(folder: Path) -> None:
    """Persist a rename (best effort: not every platform can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
