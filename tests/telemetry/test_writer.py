"""The segment writer: flushing, publishing, dropping, surviving write failures."""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path

import fsspec
import numpy as np
import pyarrow.parquet as pq
import pytest

from shipyard.telemetry import LogReader, SegmentWriter
from tests.telemetry.events import T0, tabular

DAY = 86_400.0


def parts(root: Path) -> list[Path]:
    return sorted(root.rglob("part-*.parquet"))


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".tmp")]


def test_flushes_on_interval(tmp_path: Path) -> None:
    writer = SegmentWriter(str(tmp_path), flush_interval=0.1).start()
    try:
        assert writer.submit(tabular("a", rows=2))
        deadline = time.monotonic() + 60
        while not parts(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(parts(tmp_path)) == 1
        assert pq.read_table(parts(tmp_path)[0]).num_rows == 2
    finally:
        writer.close()


def test_close_writes_everything_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    writer = SegmentWriter(str(tmp_path), flush_interval=60).start()
    for i in range(50):
        writer.submit(tabular(f"r{i}", rows=2))
    writer.close()
    assert not writer.running
    assert sum(pq.read_table(p).num_rows for p in parts(tmp_path)) == 100
    assert leftovers(tmp_path) == []
    stats = writer.stats()
    assert stats["written_rows"] == 100
    assert stats["written_segments"] == 1
    assert stats["dropped_rows"] == 0
    assert stats["queued_rows"] == 0
    assert writer.submit(tabular("late")) is False  # closed writers drop


def test_partitions_by_endpoint_and_utc_day(tmp_path: Path) -> None:
    writer = SegmentWriter(str(tmp_path))
    writer.submit(tabular("a", endpoint="churn", ts=T0))
    writer.submit(tabular("b", endpoint="churn", ts=T0 + DAY))
    writer.submit(tabular("c", endpoint="fraud/eu", ts=T0))
    assert writer.flush() == 3
    found = {p.relative_to(tmp_path).parent.as_posix() for p in parts(tmp_path)}
    assert found == {
        "predictions/endpoint=churn/date=2024-06-10",
        "predictions/endpoint=churn/date=2024-06-11",
        "predictions/endpoint=fraud%2Feu/date=2024-06-10",
    }
    reader = LogReader(str(tmp_path))
    frame = reader.predictions("fraud/eu")
    assert frame["request_id"].tolist() == ["c"]
    assert frame["endpoint"].tolist() == ["fraud/eu"]


def test_drops_when_queue_is_full_without_blocking(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dropped: list[int] = []
    writer = SegmentWriter(str(tmp_path), max_queue_rows=100, on_drop=dropped.append)
    event = tabular("x")
    with caplog.at_level(logging.WARNING, logger="shipyard.telemetry"):
        started = time.perf_counter()
        results = [writer.submit(event) for _ in range(10_000)]
        elapsed = time.perf_counter() - started
    # submit never waits for I/O (nothing is on disk below): 10,000 calls take milliseconds; the
    # bound is loose so a busy machine cannot fail it, yet a submit that blocked would
    assert elapsed < 5.0
    assert results.count(True) == 100
    assert results.count(False) == 9_900
    assert writer.dropped_rows == 9_900
    assert dropped == [1] * 9_900
    assert len([r for r in caplog.records if "dropping" in r.message]) == 1
    assert parts(tmp_path) == []  # submit did no I/O
    writer.flush()
    assert writer.written_rows == 100
    assert writer.submit(event)  # room again after the flush


def test_write_failure_is_counted_and_the_thread_survives(tmp_path: Path) -> None:
    blocker = tmp_path / "root"
    blocker.write_text("a file where the log folder should be")
    writer = SegmentWriter(str(blocker), flush_interval=0.05).start()
    try:
        writer.submit(tabular("a", rows=3))
        deadline = time.monotonic() + 60
        while writer.failed_rows < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert writer.failed_rows == 3
        assert writer.last_flush_error is not None
        assert writer.running
        assert writer.submit(tabular("b"))  # still accepting
    finally:
        writer.close()


def test_bad_event_loses_only_itself(tmp_path: Path) -> None:
    bad = tabular("bad", rows=2)
    object.__setattr__(bad, "predictions", np.zeros(1))  # 2 input rows, 1 prediction
    writer = SegmentWriter(str(tmp_path))
    writer.submit(tabular("good"))
    writer.submit(bad)
    assert writer.flush() == 1
    assert writer.failed_rows == 2
    assert "different row counts" in (writer.last_flush_error or "")


def test_object_store_url_writes_final_keys(tmp_path: Path) -> None:
    url = f"memory://shipyard-test-{uuid.uuid4().hex}/logs"
    writer = SegmentWriter(url)
    writer.submit(tabular("m1", rows=2))
    writer.flush()
    fs = fsspec.filesystem("memory")
    names = fs.glob(url.removeprefix("memory:/") + "/predictions/**")
    assert any(n.endswith(".parquet") and "/part-" in n for n in names)
    assert not any(".tmp-" in n for n in names)
    reader = LogReader(url)
    assert reader.count("churn") == 2
    assert reader.request_rows(["m1", "nope"]) == {"m1": 2}
