"""Ground truth: checks against the log, upserts, files."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipyard.core.errors import Conflict, InvalidArgument
from shipyard.telemetry import FeedbackLog, LogReader, SegmentWriter
from tests.telemetry.events import T0, tabular


@pytest.fixture
def log(tmp_path: Path) -> FeedbackLog:
    writer = SegmentWriter(str(tmp_path))
    writer.submit(tabular("one", ts=T0))
    writer.submit(tabular("three", ts=T0 + 1, rows=3))
    writer.submit(tabular("two", ts=T0 + 2, rows=2))
    writer.submit(tabular("three", ts=T0 + 1, rows=3, route="shadow", version=2))
    writer.close()
    return FeedbackLog(str(tmp_path), LogReader(str(tmp_path)))


def labels(log: FeedbackLog, route: str = "primary") -> dict[tuple[str, int], str | None]:
    frame = log.reader.with_labels("churn", route=route)
    out: dict[tuple[str, int], str | None] = {}
    for rid, row, label in zip(frame["request_id"], frame["row"], frame["label"], strict=True):
        out[(str(rid), int(row))] = None if pd.isna(label) else str(label)
    return out


def test_join_unknown_ids_and_mismatches(log: FeedbackLog, tmp_path: Path) -> None:
    result = log.append(
        [("one", 1), ("three", ["a", "b", "c"]), ("ghost", 0), ("two", [1]), ("two", "x")]
    )
    assert result.accepted == 4
    assert result.unknown_ids == ["ghost"]
    assert result.mismatched == [("two", 2, 1), ("two", 2, 1)]
    assert labels(log) == {
        ("one", 0): "1",
        ("three", 0): '"a"',
        ("three", 1): '"b"',
        ("three", 2): '"c"',
        ("two", 0): None,
        ("two", 1): None,
    }
    assert labels(log, "shadow")[("three", 2)] == '"c"'  # shadows share the request's truth
    frame = log.reader.with_labels("churn")
    assert str(frame["label_ts"].dtype) == "datetime64[us, UTC]"
    files = list((tmp_path / "feedback").rglob("part-*.parquet"))
    assert len(files) == 1
    schema = pq.read_schema(files[0])
    assert schema.field("request_id").type == pa.string()
    assert schema.field("row").type == pa.int32()
    assert schema.field("label").type == pa.string()
    assert schema.field("ts").type == pa.timestamp("us", tz="UTC")


def test_sending_again_replaces_the_label(log: FeedbackLog) -> None:
    log.append([("one", 0), ("two", [True, False])], ts=T0 + 100)
    with pytest.raises(Conflict, match="already have a label"):
        log.append([("one", 1.5)], ts=T0 + 200)
    log.append([("one", 1.5)], ts=T0 + 200, overwrite=True)
    log.append([("two", [False, None])], ts=T0 + 300)  # None is not a label: rejected whole
    assert labels(log)[("one", 0)] == "1.5"
    assert labels(log)[("two", 0)] == "true"
    # an older timestamp sent later does not win
    result = log.append([("one", "late")], ts=T0 + 150, overwrite=True)
    assert result.accepted == 1
    assert labels(log)[("one", 0)] == "1.5"
    # equal timestamps: the later write wins, also within one batch
    log.append([("one", "x"), ("one", "y")], ts=T0 + 200, overwrite=True)
    assert labels(log)[("one", 0)] == '"y"'


def test_invalid_labels_are_reported(log: FeedbackLog) -> None:
    result = log.append([("one", float("nan")), ("two", [1, None])])
    assert result.accepted == 0
    assert result.invalid == ["one", "two"]
    with pytest.raises(InvalidArgument):
        log.append([("one",)])  # type: ignore[list-item]


def test_ingest_csv(log: FeedbackLog, tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("request_id,label\none,1\nthree,a\nthree,b\nthree,c\ntwo,z\nghost,1\n")
    result = log.ingest_file(path)
    assert result.accepted == 4
    assert result.unknown_ids == ["ghost"]
    assert result.mismatched == [("two", 2, 1)]
    got = labels(log)
    assert [got[("three", i)] for i in range(3)] == ['"a"', '"b"', '"c"']
    assert got[("one", 0)] == '"1"'  # a column with text reads as text


def test_ingest_parquet_with_row_column(log: FeedbackLog, tmp_path: Path) -> None:
    path = tmp_path / "labels.parquet"
    pq.write_table(
        pa.table(
            {
                "id": ["two", "three", "two", "one", "three"],
                "row": [1, 2, 0, 0, 7],
                "truth": [0, 1, 1, 1, 1],
            }
        ),
        path,
    )
    result = log.ingest_file(path, id_column="id", label_column="truth")
    assert result.accepted == 4
    assert result.mismatched == [("three", 3, 8)]
    got = labels(log)
    assert (got[("two", 0)], got[("two", 1)], got[("three", 2)]) == ("1", "0", "1")
    assert got[("three", 0)] is None
    assert json.loads(got[("one", 0)] or "") == 1


def test_ingest_csv_numeric_labels_keep_their_type(log: FeedbackLog, tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    pd.DataFrame({"request_id": ["one", "two", "two"], "label": [1, 0, 1]}).to_csv(
        path, index=False
    )
    assert log.ingest_file(path).accepted == 3
    assert labels(log)[("one", 0)] == "1"
    with pytest.raises(InvalidArgument):
        log.ingest_file(path, label_column="nope")


def test_of_calls_labelling_one_request_at_once_exactly_one_wins(log: FeedbackLog) -> None:
    start = threading.Barrier(6)

    def send(i: int) -> str:
        start.wait(timeout=60)
        try:
            log.append([("one", i)])
        except Conflict:
            return "conflict"
        return "ok"

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(send, range(6)))
    assert sorted(outcomes) == ["conflict"] * 5 + ["ok"]
    assert len(log.reader.with_labels("churn")["label"].dropna()) == 1


def test_calls_waiting_for_a_write_share_the_next_segment(log: FeedbackLog, tmp_path: Path) -> None:
    log.append([("one", 0)])
    entered, release = threading.Event(), threading.Event()
    audits: list[tuple[str, str | None]] = []

    def audit(action: str, target: str, details: dict[str, object], actor: str | None) -> None:
        audits.append((action, actor))
        entered.set()
        assert release.wait(timeout=60)

    log.audit = audit
    with ThreadPoolExecutor(3) as pool:
        # the relabelling leads a commit and is held in its audit: the other two queue behind it
        first = pool.submit(log.append, [("one", 1)], overwrite=True, actor="ann")
        assert entered.wait(timeout=60)
        later = [
            pool.submit(log.append, [("two", [1, 0])]),
            pool.submit(log.append, [("three", ["a", "b", "c"])]),
        ]
        deadline = time.monotonic() + 60
        while len(log._queue) < 2:  # both calls are waiting: a condition, not a fixed sleep
            assert time.monotonic() < deadline, "the calls never queued"
            time.sleep(0.01)
        release.set()
        assert first.result(timeout=60).accepted == 1
        assert [f.result(timeout=60).accepted for f in later] == [2, 3]
    assert audits == [("feedback.overwrite", "ann")]
    segments = sorted((tmp_path / "feedback").rglob("part-*.parquet"))
    assert [pq.read_metadata(p).num_rows for p in segments] == [1, 1, 5]
    got = labels(log)
    assert got[("one", 0)] == "1" and got[("two", 1)] == "0" and got[("three", 2)] == '"c"'


def test_a_failed_write_fails_every_call_of_its_batch(log: FeedbackLog, tmp_path: Path) -> None:
    (tmp_path / "feedback").write_text("not a folder")  # the segment cannot be written
    with pytest.raises(OSError):
        log.append([("one", 1)])
    (tmp_path / "feedback").unlink()
    assert log.append([("one", 1)]).accepted == 1  # nothing was acknowledged, nothing is stuck
