"""Reading the log with DuckDB: windows, partitions, streaming, summaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from shipyard.telemetry import LogReader, SegmentWriter
from shipyard.telemetry.records import BASE_COLUMNS
from tests.telemetry.events import T0, failed, tabular

START = datetime.fromtimestamp(T0, UTC)


def write(root: Path, events: list) -> None:  # type: ignore[type-arg]
    writer = SegmentWriter(str(root))
    for event in events:
        assert writer.submit(event)
    writer.close()


def test_empty_log_gives_empty_frames(tmp_path: Path) -> None:
    reader = LogReader(str(tmp_path / "nothing-here"))
    frame = reader.predictions("churn", START, START + timedelta(hours=1))
    assert list(frame.columns) == list(BASE_COLUMNS)
    assert len(frame) == 0
    assert str(frame["ts"].dtype) == "datetime64[us, UTC]"
    assert reader.count() == 0
    assert list(reader.batches("churn", None, None)) == []
    labelled = reader.with_labels("churn")
    assert list(labelled.columns) == [*BASE_COLUMNS, "label", "label_ts"]
    assert reader.request_rows(["a"]) == {}
    assert reader.summary("churn")["requests"] == 0
    assert reader.summary("churn", by_version=True) == []


def test_window_route_limit_and_columns(tmp_path: Path) -> None:
    events = [tabular(f"r{i}", ts=T0 + i, rows=2) for i in range(10)]
    events += [tabular("s0", ts=T0 + 3, route="shadow", version=2)]
    events += [tabular("other", ts=T0, endpoint="fraud")]
    write(tmp_path, events)
    reader = LogReader(str(tmp_path))

    frame = reader.predictions("churn")
    assert len(frame) == 21
    assert frame["ts"].is_monotonic_increasing
    assert str(frame["ts"].dtype) == "datetime64[us, UTC]"
    assert set(frame["endpoint"]) == {"churn"}
    assert reader.count() == 22

    window = reader.predictions(
        "churn", START + timedelta(seconds=2), START + timedelta(seconds=5), route="primary"
    )
    assert sorted(set(window["request_id"])) == ["r2", "r3", "r4"]  # until is exclusive

    newest = reader.predictions("churn", limit=3, route="primary")
    assert newest["request_id"].tolist() == ["r9", "r9", "r8"]

    naive = reader.predictions("churn", START.replace(tzinfo=None) + timedelta(seconds=9))
    assert set(naive["request_id"]) == {"r9"}

    picked = reader.predictions("churn", columns=["request_id", "in.age", "in.missing"])
    assert list(picked.columns) == ["request_id", "in.age", "in.missing"]
    assert picked["in.missing"].isna().all()


def test_partitions_are_pruned_by_day(tmp_path: Path) -> None:
    write(tmp_path, [tabular("d0", ts=T0), tabular("d1", ts=T0 + 86_400)])
    reader = LogReader(str(tmp_path))
    day1 = START + timedelta(days=1)
    assert reader._files("churn", day1, None) == [
        p for p in reader._files("churn", None, None) if "date=2024-06-11" in p
    ]
    assert reader.predictions("churn", day1)["request_id"].tolist() == ["d1"]
    assert reader.predictions("churn", until=day1)["request_id"].tolist() == ["d0"]


def test_ignores_temporary_and_foreign_files(tmp_path: Path) -> None:
    write(tmp_path, [tabular("ok")])
    folder = next(tmp_path.rglob("date=*"))
    (folder / ".tmp-part-1-2-3.parquet").write_bytes(b"torn")
    (folder / "notes.txt").write_text("hi")
    assert LogReader(str(tmp_path)).count("churn") == 1


def test_segments_with_different_columns_read_as_one_table(tmp_path: Path) -> None:
    write(tmp_path, [tabular("a")])
    write(tmp_path, [failed("b", ts=T0 + 1)])
    frame = LogReader(str(tmp_path)).predictions("churn")
    assert frame["request_id"].tolist() == ["a", "b"]
    assert frame["in.age"].isna().tolist() == [False, True]


def test_batches_stream_in_bounded_chunks(tmp_path: Path) -> None:
    write(tmp_path, [tabular(f"r{i}", ts=T0 + i, rows=50) for i in range(50)])
    reader = LogReader(str(tmp_path))
    batches = list(reader.batches("churn", None, None, batch_rows=300))
    assert all(isinstance(b, pa.RecordBatch) for b in batches)
    assert sum(b.num_rows for b in batches) == 2_500
    assert all(b.num_rows <= 300 for b in batches)
    assert len(batches) >= 9
    assert "in.age" in batches[0].schema.names
    narrow = list(reader.batches("churn", None, None, columns=["in.age", "nope"]))
    assert narrow[0].schema.names == ["in.age", "nope"]


def test_summary_on_known_latencies(tmp_path: Path) -> None:
    # 100 requests over 100 s: latencies 1..100 ms; requests 0..9 have 5 rows (counted once);
    # 4 of them are errors; version 2 answers the last 20.
    events = []
    for i in range(100):
        ts = T0 + i
        if i in (10, 11, 12, 13):
            event = failed(f"r{i}", ts=ts)
            object.__setattr__(event, "latency_ms", float(i + 1))
        else:
            version = 2 if i >= 80 else 1
            event = tabular(
                f"r{i}", ts=ts, rows=5 if i < 10 else 1, latency_ms=i + 1, version=version
            )
        events.append(event)
    events.append(tabular("shadow", ts=T0, route="shadow", latency_ms=1000))
    write(tmp_path, events)
    reader = LogReader(str(tmp_path))
    since, until = START, START + timedelta(seconds=100)

    s = reader.summary("churn", since, until)
    assert s["requests"] == 100
    assert s["rows"] == 10 * 5 + 90
    assert s["errors"] == 4
    assert s["error_rate"] == pytest.approx(0.04)
    assert s["latency_p50_ms"] == pytest.approx(50.5)
    assert s["latency_p95_ms"] == pytest.approx(95.05)
    assert s["latency_p99_ms"] == pytest.approx(99.01)
    assert s["latency_mean_ms"] == pytest.approx(50.5)
    assert s["throughput_rps"] == pytest.approx(1.0)
    assert s["first_ts"] == START

    per_version = reader.summary("churn", since, until, by_version=True)
    assert [v["version"] for v in per_version] == [1, 2]
    assert [v["requests"] for v in per_version] == [80, 20]
    assert per_version[1]["latency_p50_ms"] == pytest.approx(90.5)

    everything = reader.summary("churn", since, until, route=None)
    assert everything["requests"] == 101


def test_rejects_inverted_window(tmp_path: Path) -> None:
    from shipyard.core.errors import InvalidArgument

    with pytest.raises(InvalidArgument):
        LogReader(str(tmp_path)).predictions("churn", START, START)
