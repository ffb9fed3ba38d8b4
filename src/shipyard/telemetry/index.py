"""The request-id indexes: which requests the compacted log holds, and which have a label.

Layout: ``{root}/{index}/bucket={NN}/idx-{time_ns}-{pid}-{seq}.parquet``, ``NN`` = CRC-32 of the
request id modulo ``BUCKETS``. Each file holds ``(request_id, endpoint, rows, ts, model, version)``
sorted by ``request_id`` in small row groups, so a lookup opens one bucket and, in each of its few
files, only the row groups whose min/max statistics bracket the id. Every file also carries a Bloom
filter of its ids (10 bits an id, 7 hashes: about 1 % false positives) in its footer's key-value
metadata, so a lookup reads a row group only from the files that may hold the id: about one read
for a logged id, whatever the number of files, and usually none for an id never logged. Footers
are cached: files are immutable.

Two indexes share this layout:

* ``index/``: the predictions (``entries_of``): the endpoint, the request's row count, its first
  ``ts``, and the model version that answered it (not a shadow's), so feedback checks a label
  against its version without reading the log;
* ``label-index/``: the labelled requests (``label_entries_of``): endpoint ``""``, rows labelled,
  the first label ``ts``; it answers "does this request already have a label" for the compacted
  feedback.

The compactor adds entries for the raw segments it is about to compact *before* it publishes the
compacted output, so an id is in the index no later than it leaves the raw tail; the reader looks in
the raw tail first, then here (``LogReader.request_rows``). Entries are facts, not pointers: a
duplicate (a compaction retried after a crash, a merge in progress) is harmless and removed at the
next merge. A bucket of more than ``MAX_FILES`` files is merged into one; retention rewrites the
buckets without the entries of deleted days.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import zlib
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shipyard.telemetry._storage import INDEX, SegmentStore, segment_name
from shipyard.telemetry.records import SHADOW

BUCKETS = 32
MAX_FILES = 8
ROW_GROUP = 1024
INDEX_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("endpoint", pa.string()),
        ("rows", pa.int32()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("model", pa.string()),
        ("version", pa.int32()),
    ]
)


class Entry(NamedTuple):
    """What one index holds of a request id (model and version None when not known)."""

    endpoint: str
    rows: int
    ts: datetime
    model: str | None
    version: int | None

    def merge(self, other: Entry) -> Entry:
        """This entry and another of the same id (a duplicate, rows split over segments) as one."""
        return Entry(
            other.endpoint,
            max(self.rows, other.rows),
            min(self.ts, other.ts),
            self.model if self.model is not None else other.model,
            self.version if self.version is not None else other.version,
        )


Found = dict[str, list[Entry]]
"""request id -> its entries, one per endpoint."""


def bucket_of(request_id: str) -> int:
    return zlib.crc32(request_id.encode()) % BUCKETS


BLOOM_KEY = b"shipyard.bloom"
BLOOM_BITS = 10  # per id
BLOOM_HASHES = 7


def _hash_pair(request_id: str) -> tuple[int, int]:
    """Two independent 32-bit hashes of an id (not CRC-32: that one picked the bucket)."""
    digest = hashlib.blake2b(request_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:], "little") | 1


class Bloom:
    """A Bloom filter of request ids: ``might_hold`` is never False for an id that was added."""

    def __init__(self, bits: bytes) -> None:
        self.bits = bits
        self.size = len(bits) * 8

    @classmethod
    def of(cls, ids: list[str]) -> Bloom:
        size = max(64, -(-len(ids) * BLOOM_BITS // 64) * 64)
        pairs = np.array([_hash_pair(i) for i in ids], dtype=np.uint64).reshape(-1, 2)
        steps = np.arange(BLOOM_HASHES, dtype=np.uint64)
        positions = (pairs[:, :1] + steps * pairs[:, 1:]) % np.uint64(size)
        on = np.zeros(size, dtype=bool)
        on[positions.ravel()] = True
        return cls(np.packbits(on, bitorder="little").tobytes())

    def might_hold(self, pair: tuple[int, int]) -> bool:
        """Whether the id of this ``_hash_pair`` may have been added."""
        first, step = pair
        for i in range(BLOOM_HASHES):
            at = (first + i * step) % self.size
            if not self.bits[at >> 3] >> (at & 7) & 1:
                return False
        return True


class _Footer(NamedTuple):
    meta: pq.FileMetaData
    spans: list[tuple[str, str]]  # each row group's (min, max) id
    bloom: Bloom | None  # None: a file written before the filters


def _bucket_dir(bucket: int) -> str:
    return f"bucket={bucket:02d}"


ENTRY_COLUMNS = ["endpoint", "request_id", "row", "ts", "model", "version", "route"]
"""The prediction columns ``entries_of`` reads."""


def entries_of(table: pa.Table) -> pa.Table:
    """Index entries of prediction rows: one per (endpoint, request_id)."""
    if table.num_rows == 0:
        return INDEX_SCHEMA.empty_table()
    keys = ["endpoint", "request_id"]
    agg = table.group_by(keys).aggregate([("row", "max"), ("ts", "min")])
    answered = table.filter(pc.not_equal(table["route"], SHADOW)).group_by(keys)
    served = answered.aggregate([("model", "max"), ("version", "max")])
    agg = agg.join(served, keys, join_type="left outer")
    return pa.table(
        {
            "request_id": agg["request_id"],
            "endpoint": agg["endpoint"],
            "rows": pc.add(agg["row_max"], 1).cast(pa.int32()),
            "ts": agg["ts_min"],
            "model": agg["model_max"],
            "version": agg["version_max"].cast(pa.int32()),
        },
        schema=INDEX_SCHEMA,
    )


def label_entries_of(table: pa.Table) -> pa.Table:
    """Label-index entries of label rows (``request_id, row, ts``): one per request id."""
    if table.num_rows == 0:
        return INDEX_SCHEMA.empty_table()
    agg = table.group_by(["request_id"]).aggregate([("row", "max"), ("ts", "min")])
    n = agg.num_rows
    return pa.table(
        {
            "request_id": agg["request_id"],
            "endpoint": pa.array([""] * n, pa.string()),
            "rows": pc.add(agg["row_max"], 1).cast(pa.int32()),
            "ts": agg["ts_min"],
            "model": pa.nulls(n, pa.string()),
            "version": pa.nulls(n, pa.int32()),
        },
        schema=INDEX_SCHEMA,
    )


def _conform(table: pa.Table) -> pa.Table:
    """An index file's table in ``INDEX_SCHEMA`` (files written before model/version: nulls)."""
    for name in INDEX_SCHEMA.names:
        if name not in table.column_names:
            field = INDEX_SCHEMA.field(name)
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    return table.select(INDEX_SCHEMA.names).cast(INDEX_SCHEMA)


def _dedup(table: pa.Table) -> pa.Table:
    agg = table.group_by(["endpoint", "request_id"]).aggregate(
        [("rows", "max"), ("ts", "min"), ("model", "max"), ("version", "max")]
    )
    out = pa.table(
        {
            "request_id": agg["request_id"],
            "endpoint": agg["endpoint"],
            "rows": agg["rows_max"],
            "ts": agg["ts_min"],
            "model": agg["model_max"],
            "version": agg["version_max"],
        },
        schema=INDEX_SCHEMA,
    )
    return out.sort_by([("request_id", "ascending"), ("endpoint", "ascending")])


class RequestIndex:
    """Add, look up, merge and purge the entries of one index (``INDEX`` or ``LABEL_INDEX``)
    under a log root (see the module doc)."""

    def __init__(self, store: SegmentStore, dataset: str = INDEX) -> None:
        self.store = store
        self.dataset = dataset
        self._footers: dict[int, dict[str, _Footer]] = {}  # bucket -> path -> its footer
        self._lock = threading.Lock()

    def _folder(self, bucket: int) -> str:
        return self.store.path(self.dataset, _bucket_dir(bucket))

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
        bloom = Bloom.of(table.column("request_id").to_pylist())
        self.store.publish(
            (self.dataset, _bucket_dir(bucket)),
            table.replace_schema_metadata({BLOOM_KEY: base64.b64encode(bloom.bits)}),
            compression="zstd",
            name=segment_name("idx"),
            row_group_size=ROW_GROUP,
        )

    def _rewrite(self, bucket: int, keep: Callable[[pa.Table], pa.Array] | None) -> int:
        """Replace a bucket's files by one (deduplicated, filtered by ``keep``); rows dropped."""
        files = self._files(bucket)
        if not files:
            return 0
        table = pa.concat_tables([_conform(self.store.read_table(f)) for f in files])
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
                self._footers.get(bucket, {}).pop(f, None)
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

    def _footer(self, bucket: int, path: str) -> _Footer:
        with self._lock:
            cached = self._footers.get(bucket, {}).get(path)
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
        encoded = (meta.metadata or {}).get(BLOOM_KEY)
        footer = _Footer(meta, spans, Bloom(base64.b64decode(encoded)) if encoded else None)
        with self._lock:
            self._footers.setdefault(bucket, {})[path] = footer
        return footer

    def _metadata(self, path: str) -> pq.FileMetaData:
        if self.store.local:
            return pq.read_metadata(path)
        with self.store.fs.open(path, "rb") as fh:
            return pq.read_metadata(fh)

    def _open(self, path: str, meta: pq.FileMetaData) -> pq.ParquetFile:
        if self.store.local:
            return pq.ParquetFile(path, metadata=meta)
        return pq.ParquetFile(self.store.fs.open(path, "rb"), metadata=meta)

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
        pairs = {rid: _hash_pair(rid) for rid in wanted}
        files = self._files(bucket)
        with self._lock:  # forget the footers of files merged away
            cached = self._footers.setdefault(bucket, {})
            for gone in cached.keys() - set(files):
                del cached[gone]
        for path in files:
            footer = self._footer(bucket, path)
            maybe = [
                rid
                for rid, pair in pairs.items()
                if footer.bloom is None or footer.bloom.might_hold(pair)
            ]
            groups = [
                i for i, (lo, hi) in enumerate(footer.spans) if any(lo <= w <= hi for w in maybe)
            ]
            if not groups:
                continue
            # no thread pool for a few small row groups: its round trips cost more than the read
            reader = self._open(path, footer.meta)
            table = _conform(reader.read_row_groups(groups, use_threads=False))
            hits = table.filter(pc.is_in(table["request_id"], pa.array(sorted(maybe))))
            for rid, endpoint, rows, ts, model, version in zip(
                *(hits[name].to_pylist() for name in INDEX_SCHEMA.names), strict=True
            ):
                entries = found.setdefault(rid, [])
                entry = Entry(endpoint, int(rows), ts, model, version)
                same = next((i for i, e in enumerate(entries) if e.endpoint == endpoint), None)
                if same is None:
                    entries.append(entry)
                else:  # a duplicate (a merge in progress)
                    entries[same] = entries[same].merge(entry)
        return found


__all__ = [
    "BUCKETS",
    "ENTRY_COLUMNS",
    "INDEX_SCHEMA",
    "Bloom",
    "Entry",
    "RequestIndex",
    "bucket_of",
    "entries_of",
    "label_entries_of",
]
