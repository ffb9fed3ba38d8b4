"""The request-id index: Bloom filters in the footers, lookups across many files."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from shipyard.telemetry._storage import SegmentStore
from shipyard.telemetry.index import (
    BLOOM_KEY,
    INDEX_SCHEMA,
    MAX_FILES,
    Bloom,
    RequestIndex,
    _hash_pair,
    bucket_of,
)


def entries(ids: list[str], version: int = 1) -> pa.Table:
    n = len(ids)
    return pa.table(
        {
            "request_id": ids,
            "endpoint": ["churn"] * n,
            "rows": pa.array(np.ones(n, np.int32)),
            "ts": pa.array(np.full(n, 1_718_000_000_000_000), pa.timestamp("us", tz="UTC")),
            "model": ["m"] * n,
            "version": pa.array(np.full(n, version, np.int32)),
        },
        schema=INDEX_SCHEMA,
    )


def test_a_bloom_filter_holds_every_id_added_and_few_others() -> None:
    rng = random.Random(5)
    added = [f"req-{rng.getrandbits(64):x}" for _ in range(5_000)]
    bloom = Bloom.of(added)
    assert all(bloom.might_hold(_hash_pair(i)) for i in added)  # never a false negative
    others = [f"other-{i}" for i in range(20_000)]
    false_positives = sum(bloom.might_hold(_hash_pair(i)) for i in others)
    assert false_positives / len(others) < 0.03  # ~1 % expected at 10 bits an id
    assert not Bloom.of([]).might_hold(_hash_pair("x"))


class CountingIndex(RequestIndex):
    """The real index, noting which files a lookup reads row groups from."""

    def __init__(self, store: SegmentStore) -> None:
        super().__init__(store)
        self.opened: list[str] = []

    def _open(self, path: str, meta: pq.FileMetaData) -> pq.ParquetFile:
        self.opened.append(path)
        return super()._open(path, meta)


def test_lookups_read_only_the_files_that_may_hold_the_id(tmp_path: Path) -> None:
    store = SegmentStore(str(tmp_path))
    index = CountingIndex(store)
    rng = random.Random(7)  # ids spread over the whole range: min/max statistics prune nothing
    batches = [[f"{rng.getrandbits(64):016x}" for _ in range(3_000)] for _ in range(MAX_FILES)]
    for b, ids in enumerate(batches):
        index.add(entries(ids, version=b + 1))
    files = sorted(tmp_path.rglob("idx-*.parquet"))
    assert len(files) == 32 * MAX_FILES  # no merge yet: every bucket has one file per batch
    assert all(BLOOM_KEY in (pq.read_metadata(f).metadata or {}) for f in files)

    a, b = batches[3][17], batches[0][-1]
    found = index.lookup([a, b, "never-logged"])
    assert {rid: [(e.endpoint, e.version) for e in v] for rid, v in found.items()} == {
        a: [("churn", 4)],
        b: [("churn", 1)],
    }
    assert len(index.opened) <= 3  # not one per file of the buckets (up to 24 files)

    index.add(entries(["late"]))  # a ninth file in one bucket: merged into one
    assert index.lookup(["late", batches[7][5]]).keys() == {"late", batches[7][5]}


def test_files_from_before_the_filters_and_versions_still_answer(tmp_path: Path) -> None:
    store = SegmentStore(str(tmp_path))
    old = pa.table(
        {
            "request_id": ["a"],
            "endpoint": ["churn"],
            "rows": pa.array([2], pa.int32()),
            "ts": pa.array([1_718_000_000_000_000], pa.timestamp("us", tz="UTC")),
        }
    )
    index = RequestIndex(store)
    folder = f"bucket={bucket_of('a'):02d}"
    store.publish(("index", folder), old, compression="zstd", name="idx-0-0-0.parquet")
    (entry,) = index.lookup(["a"])["a"]
    assert (entry.rows, entry.model, entry.version) == (2, None, None)
