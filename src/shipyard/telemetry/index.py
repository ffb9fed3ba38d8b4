"""The request-id index: which requests the compacted log holds, found without a scan.

Layout: ``{root}/index/bucket={NN}/idx-{time_ns}-{pid}-{seq}.parquet``, ``NN`` = CRC-32 of the
request id modulo ``BUCKETS``. Each file holds ``(request_id, endpoint, rows, ts)`` sorted by
``request_id`` in small row groups, so a lookup opens one bucket and, in each of its few files,
only the row groups whose min/max statistics bracket the id (file footers are cached: files are
immutable).

The compactor adds entries for the raw segments it is about to compact *before* it publishes the
compacted output, so an id is in the index no later than it leaves the raw tail; the reader looks in
the raw tail first, then here (``LogReader.request_rows``). Entries are facts, not pointers: a
duplicate (a compaction retried after a crash, a merge in progress) is harmless and removed at the
next merge. A bucket of more than ``MAX_FILES`` files is merged into one; retention rewrites the
buckets without the entries of deleted days.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterable
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shipyard.telemetry._storage import INDEX, SegmentStore, segment_name

BUCKETS = 32
MAX_FILES = 8
ROW_GROUP = 1024
INDEX_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("endpoint", pa.string()),
        ("rows", pa.int32()),
        ("ts", pa.timestamp("us", tz="UTC")),
    ]
)

Found = dict[str, list[tuple[str, int, datetime]]]
"""request id -> [(endpoint, rows, first ts)]."""


def bucket_of(request_id: str) -> int:
    return zlib.crc32(request_id.encode()) % BUCKETS


def _bucket_dir(bucket: int) -> str:
    return f"bucket={bucket:02d}"


def entries_of(table: pa.Table) -> pa.Table:
    """Index entries of prediction rows: one per (endpoint, request_id)."""
    if table.num_rows == 0:
        return INDEX_SCHEMA.empty_table()
    grouped = table.select(["endpoint", "request_id", "row", "ts"]).group_by(
        ["endpoint", "request_id"]
    )
    agg = grouped.aggregate([("row", "max"), ("ts", "min")])
    return pa.table(
        {
            "request_id": agg["request_id"],
            "endpoint": agg["endpoint"],
            "rows": pc.add(agg["row_max"], 1).cast(pa.int32()),
            "ts": agg["ts_min"],
        },
        schema=INDEX_SCHEMA,
    )


def _dedup(table: pa.Table) -> pa.Table:
    agg = table.group_by(["endpoint", "request_id"]).aggregate([("rows", "max"), ("ts", "min")])
    out = pa.table(
        {
            "request_id": agg["request_id"],
            "endpoint": agg["endpoint"],
            "rows": agg["rows_max"],
            "ts": agg["ts_min"],
        },
        schema=INDEX_SCHEMA,
    )
    return out.sort_by([("request_id", "ascending"), ("endpoint", "ascending")])


class RequestIndex:
    """Add, look up, merge and purge index entries under a log root (see the module doc)."""

    def __init__(self, store: SegmentStore) -> None:
        self.store = store
        self._stats: dict[str, list[tuple[str, str]]] = {}  # path -> row-group (min, max) ids
        self._lock = threading.Lock()

    def _folder(self, bucket: int) -> str:
        return self.store.path(INDEX, _bucket_dir(bucket))

    def _files(self, bucket: int) -> list[str]:
        folder = self._folder(bucket)
        names = self.store.ls(folder)
        return [f"{folder}/{n}" for n in sorted(names) if n.startswith("idx-")]

    # -- writing --------------------------------------------------------------------------------

    def add(self, entries: pa.Table) -> int:
        """Publish entries (one file per bucket touched); merge crowded buckets. Returns rows."""
        if entries.num_rows == 0:
            return 0
        ids = entries.column("request_id").to_pylist()
        buckets = np.fromiter((bucket_of(i) for i in ids), dtype=np.int32, count=len(ids))
        for bucket in np.unique(buckets):
            part = entries.filter(pa.array(buckets == bucket))
            self._publish(int(bucket), _dedup(part))
            if len(self._files(int(bucket))) > MAX_FILES:
                self._rewrite(int(bucket), None)
        return int(entries.num_rows)

    def _publish(self, bucket: int, table: pa.Table) -> None:
        self.store.publish(
            (INDEX, _bucket_dir(bucket)),
            table,
            compression="zstd",
            name=segment_name("idx"),
            row_group_size=ROW_GROUP,
        )

    def _rewrite(self, bucket: int, keep: Callable[[pa.Table], pa.Array] | None) -> int:
        """Replace a bucket's files by one (deduplicated, filtered by ``keep``); rows dropped."""
        files = self._files(bucket)
        if not files:
            return 0
        table = pa.concat_tables([self.store.read_table(f).cast(INDEX_SCHEMA) for f in files])
        before = table.num_rows
        if keep is not None:
            table = table.filter(keep(table))
        merged = _dedup(table)
        if merged.num_rows:
            self._publish(bucket, merged)
        for f in files:  # readers meanwhile see duplicates, which lookups ignore
            self.store.delete(f)
        with self._lock:
            for f in files:
                self._stats.pop(f, None)
        return int(before - table.num_rows)

    def purge(self, cutoffs: dict[str, datetime]) -> int:
        """Drop the entries of each endpoint older than its cutoff; returns entries dropped."""
        if not cutoffs:
            return 0

        def keep(table: pa.Table) -> pa.Array:
            mask = pa.array(np.ones(table.num_rows, dtype=bool))
            for endpoint, cutoff in cutoffs.items():
                old = pc.and_(
                    pc.equal(table["endpoint"], endpoint),
                    pc.less(table["ts"], pa.scalar(cutoff, INDEX_SCHEMA.field("ts").type)),
                )
                mask = pc.and_(mask, pc.invert(old))
            return mask

        return sum(self._rewrite(b, keep) for b in range(BUCKETS))

    # -- reading --------------------------------------------------------------------------------

    def _row_groups(self, path: str) -> list[tuple[str, str]]:
        with self._lock:
            cached = self._stats.get(path)
        if cached is not None:
            return cached
        meta = self._metadata(path)
        col = meta.schema.to_arrow_schema().get_field_index("request_id")
        spans = []
        for i in range(meta.num_row_groups):
            stats = meta.row_group(i).column(col).statistics
            if stats is None or not stats.has_min_max:
                spans.append(("", "\U0010ffff"))
            else:
                spans.append((str(stats.min), str(stats.max)))
        with self._lock:
            self._stats[path] = spans
        return spans

    def _metadata(self, path: str) -> pq.FileMetaData:
        if self.store.local:
            return pq.read_metadata(path)
        with self.store.fs.open(path, "rb") as fh:
            return pq.read_metadata(fh)

    def _open(self, path: str) -> pq.ParquetFile:
        if self.store.local:
            return pq.ParquetFile(path)
        return pq.ParquetFile(self.store.fs.open(path, "rb"))

    def lookup(self, ids: Iterable[str]) -> Found:
        """Index entries of ``ids`` (ids the compacted log does not hold are absent)."""
        by_bucket: dict[int, set[str]] = {}
        for rid in ids:
            by_bucket.setdefault(bucket_of(rid), set()).add(rid)
        found: Found = {}
        for bucket, wanted in by_bucket.items():
            for _ in range(3):  # a merge may delete a listed file: list again
                try:
                    found.update(self._lookup_bucket(bucket, wanted))
                    break
                except FileNotFoundError:
                    continue
        return found

    def _lookup_bucket(self, bucket: int, wanted: set[str]) -> Found:
        found: Found = {}
        low, high = min(wanted), max(wanted)
        for path in self._files(bucket):
            groups = [
                i
                for i, (lo, hi) in enumerate(self._row_groups(path))
                if lo <= high and hi >= low and any(lo <= w <= hi for w in wanted)
            ]
            if not groups:
                continue
            table = self._open(path).read_row_groups(groups)
            hits = table.filter(pc.is_in(table["request_id"], pa.array(sorted(wanted))))
            for rid, endpoint, rows, ts in zip(
                hits["request_id"].to_pylist(),
                hits["endpoint"].to_pylist(),
                hits["rows"].to_pylist(),
                hits["ts"].to_pylist(),
                strict=True,
            ):
                entries = found.setdefault(rid, [])
                if all(e[0] != endpoint for e in entries):
                    entries.append((endpoint, int(rows), ts))
        return found


__all__ = ["BUCKETS", "INDEX_SCHEMA", "RequestIndex", "bucket_of", "entries_of"]
