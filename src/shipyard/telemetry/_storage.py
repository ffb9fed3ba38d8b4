"""Where log segments live: naming, listing and the write-then-publish protocol.

Layout under a log root (a local folder or any fsspec URL)::

    {root}/predictions/endpoint={endpoint}/date={YYYY-MM-DD}/part-{time_ns}-{pid}-{seq}.parquet
    {root}/feedback/date={YYYY-MM-DD}/part-{time_ns}-{pid}-{seq}.parquet
    {root}/index/bucket={NN}/idx-{...}.parquet and {root}/label-index/... (``index``)

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

Compaction (``compaction``) adds, in the same day folders:

* ``hour-{min_us}-{max_us}-{...}.parquet`` and ``day-{min_us}-{max_us}-{...}.parquet``: compacted
  files whose name carries the time range of their rows (µs since the epoch, 17 digits), so a window
  opens only the files that overlap it;
* ``_compaction-{output}.json``: written before its output is published, it names the inputs the
  output replaces. While the output exists, those inputs are *superseded* and readers skip them;
  when the output does not exist (a compaction killed before publishing), the manifest is ignored.
* ``_retired``: a day folder being deleted by retention; readers skip the whole folder.
"""

from __future__ import annotations

import contextlib
import itertools
import json
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
INDEX = "index"
LABEL_INDEX = "label-index"
RAW_PREFIX = "part-"
TMP_PREFIX = ".tmp-"
MANIFEST_PREFIX = "_compaction-"
RETIRED = "_retired"
COMPACTED_LEVELS = ("hour", "day")

_seq = itertools.count()
_seq_lock = threading.Lock()


def endpoint_dir(endpoint: str) -> str:
    """The partition folder name of an endpoint: ``endpoint=<percent-encoded name>``."""
    if not endpoint:
        raise InvalidArgument("an endpoint name must not be empty")
    return f"endpoint={quote(endpoint, safe='')}"


def date_dir(day: date) -> str:
    return f"date={day.isoformat()}"


def _unique() -> str:
    with _seq_lock:
        seq = next(_seq)
    return f"{time.time_ns():019d}-{os.getpid()}-{seq:08d}"


def segment_name(prefix: str = "part") -> str:
    """A fresh, unique, time-ordered segment file name."""
    return f"{prefix}-{_unique()}.parquet"


def compacted_name(level: str, min_us: int, max_us: int) -> str:
    """The name of a compacted file holding rows with ``min_us <= ts <= max_us``."""
    return f"{level}-{min_us:017d}-{max_us:017d}-{_unique()}.parquet"


def time_range(name: str) -> tuple[int, int] | None:
    """The (min, max) µs timestamps of a compacted file's rows; None for a raw segment."""
    level, _, rest = name.partition("-")
    if level not in COMPACTED_LEVELS:
        return None
    try:
        low, high = rest.split("-", 2)[:2]
        return int(low), int(high)
    except ValueError:
        return None


def is_raw(name: str) -> bool:
    return name.startswith(RAW_PREFIX) and name.endswith(".parquet")


def is_segment(name: str) -> bool:
    return name.endswith(".parquet") and (is_raw(name) or time_range(name) is not None)


def manifest_name(output: str) -> str:
    return f"{MANIFEST_PREFIX}{output.removesuffix('.parquet')}.json"


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

    def publish(
        self,
        parts: tuple[str, ...],
        table: pa.Table,
        *,
        compression: str,
        name: str | None = None,
        row_group_size: int | None = None,
    ) -> str:
        """Write ``table`` as a new segment in folder ``parts`` and return its final path."""
        return self.publish_to(
            self.path(*parts),
            table,
            compression=compression,
            name=name,
            row_group_size=row_group_size,
        )

    def publish_to(
        self,
        folder: str,
        table: pa.Table,
        *,
        compression: str,
        name: str | None = None,
        row_group_size: int | None = None,
    ) -> str:
        """Write ``table`` as ``folder/name`` (a fresh segment name by default), atomically."""
        name = name or segment_name()
        options: dict[str, Any] = {"compression": compression}
        if row_group_size is not None:
            options["row_group_size"] = row_group_size
        if self.local:
            local = Path(folder)
            local.mkdir(parents=True, exist_ok=True)
            tmp = local / f"{TMP_PREFIX}{name}"
            final = local / name
            try:
                with open(tmp, "wb") as fh:
                    pq.write_table(table, fh, **options)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, final)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            _fsync_dir(local)
            return str(final)
        # Encode fully in memory, then upload in one call: a failure while encoding must not
        # leave a partial object behind (closing an fsspec file after an error still commits it).
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, **options)
        target = f"{folder}/{name}"
        self.fs.pipe_file(target, sink.getvalue().to_pybytes())
        return target

    def write_text(self, path: str, text: str) -> None:
        """Publish a small text file atomically (temporary name + rename locally)."""
        if self.local:
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f"{TMP_PREFIX}{target.name}")
            with open(tmp, "w") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        else:
            self.fs.pipe_file(path, text.encode())

    def read_text(self, path: str) -> str | None:
        """A small file's text; None when it does not exist (any more)."""
        try:
            with self.fs.open(path, "rb") as fh:
                return bytes(fh.read()).decode()
        except FileNotFoundError:
            return None

    def exists(self, path: str) -> bool:
        if self.local:
            return os.path.exists(path)
        return bool(self.fs.exists(path))

    def delete(self, path: str) -> None:
        """Remove a file (missing is fine)."""
        try:
            if self.local:
                os.unlink(path)
            else:
                self.fs.rm_file(path)
        except FileNotFoundError:
            pass

    def delete_folder(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(path, recursive=True)

    def mtime(self, path: str) -> float | None:
        try:
            if self.local:
                return os.stat(path).st_mtime
            modified = self.fs.modified(path)
        except (FileNotFoundError, NotImplementedError):
            return None
        return float(modified.timestamp())

    def read_table(
        self, path: str, columns: list[str] | None = None, *, use_threads: bool = True
    ) -> pa.Table:
        """A whole file (``use_threads=False`` for a small one: no thread pool round trip)."""
        if self.local:
            return pq.read_table(path, columns=columns, use_threads=use_threads)
        with self.fs.open(path, "rb") as fh:
            return pq.read_table(fh, columns=columns, use_threads=use_threads)

    # -- listing --------------------------------------------------------------------------------

    def ls(self, path: str) -> list[str]:
        return self._ls(path)

    def superseded(self, folder: str, names: list[str]) -> set[str]:
        """Inputs replaced by a published compaction output of ``folder`` (see the module doc)."""
        present = set(names)
        gone: set[str] = set()
        for name in names:
            if not (name.startswith(MANIFEST_PREFIX) and name.endswith(".json")):
                continue
            text = self.read_text(f"{folder}/{name}")
            if text is None:
                continue
            try:
                doc = json.loads(text)
                output, inputs = str(doc["output"]), [str(i) for i in doc["inputs"]]
            except (ValueError, KeyError, TypeError):
                continue
            if output in present:
                gone.update(inputs)
        return gone

    def live_segments(
        self, folder: str, *, min_us: int | None = None, max_us: int | None = None
    ) -> list[str]:
        """Segment names of a day folder a reader should open: published, not superseded, not
        retired, and (for compacted files) overlapping ``[min_us, max_us)``."""
        names = self._ls(folder)
        if RETIRED in names:
            return []
        gone = self.superseded(folder, names)
        out = []
        for name in sorted(names):
            if not is_segment(name) or name in gone:
                continue
            span = time_range(name)
            if span is not None and (
                (min_us is not None and span[1] < min_us)
                or (max_us is not None and span[0] >= max_us)
            ):
                continue
            out.append(name)
        return out

    def raw_tail(self, folder: str) -> tuple[list[str], bool]:
        """The live raw segments of a day folder (unordered), and whether it is compacted for good
        (nothing live but one ``day-`` file). Leaner than ``live_segments``: feedback lists the
        raw tail on every call."""
        names = self._ls(folder)
        if RETIRED in names:
            return [], False
        raw = [n for n in names if n.startswith(RAW_PREFIX) and n.endswith(".parquet")]
        if any(n.startswith(MANIFEST_PREFIX) for n in names):  # a compaction at work
            gone = self.superseded(folder, names)
            raw = [n for n in raw if n not in gone]
        else:
            gone = set()
        if raw:
            return raw, False
        live = [n for n in names if is_segment(n) and n not in gone]
        return [], len(live) == 1 and live[0].startswith("day-")

    def endpoint_folders(self, dataset: str = PREDICTIONS) -> list[str]:
        base = self.path(dataset)
        return [f"{base}/{n}" for n in sorted(self._ls(base)) if n.startswith("endpoint=")]

    def day_folders(self, folder: str) -> list[tuple[date, str]]:
        """(day, path) of the ``date=`` folders directly under ``folder``, oldest first."""
        days = []
        for name in sorted(self._ls(folder)):
            if not name.startswith("date="):
                continue
            try:
                days.append((date.fromisoformat(name[5:]), f"{folder}/{name}"))
            except ValueError:
                continue
        return days

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

    def has_endpoint(self, endpoint: str) -> bool:
        """Whether any prediction of ``endpoint`` was ever logged (a folder exists for it)."""
        return bool(self._ls(self.path(PREDICTIONS, endpoint_dir(endpoint))))

    def segments(
        self,
        dataset: str,
        *,
        endpoint: str | None = None,
        first_day: date | None = None,
        last_day: date | None = None,
        min_us: int | None = None,
        max_us: int | None = None,
    ) -> list[str]:
        """Live segment paths of a dataset, restricted to an endpoint, a day range and (for
        compacted files, by the range in their name) the µs window ``[min_us, max_us)``."""
        base = self.path(dataset)
        if dataset == PREDICTIONS:
            if endpoint is not None:
                folders = [f"{base}/{endpoint_dir(endpoint)}"]
            else:
                folders = self.endpoint_folders(dataset)
        else:
            folders = [base]
        found: list[str] = []
        for folder in folders:
            for day, day_path in self.day_folders(folder):
                if (first_day is not None and day < first_day) or (
                    last_day is not None and day > last_day
                ):
                    continue
                names = self.live_segments(day_path, min_us=min_us, max_us=max_us)
                found.extend(f"{day_path}/{n}" for n in names)
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
