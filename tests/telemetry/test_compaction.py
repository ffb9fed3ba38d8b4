"""Compaction, the request-id index, retention and window pruning on a real log folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from shipyard.core.errors import Conflict
from shipyard.telemetry import FeedbackLog, LogReader, SegmentWriter
from shipyard.telemetry.compaction import Compactor
from shipyard.telemetry.maintenance import LogMaintenance
from shipyard.telemetry.reader import LoggedRequest
from tests.telemetry.events import T0, tabular

SRC = Path(__file__).resolve().parents[2] / "src"
DAY0 = datetime.fromtimestamp(T0, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
LATER = T0 + 10 * 86_400  # every test hour and day is closed by then


def fill(root: Path, *, endpoint: str = "churn", hours: int = 30, per_hour: int = 3) -> list[str]:
    """Write ``hours * per_hour`` raw segments (2 requests each, 2 rows each) from DAY0."""
    ids = []
    writer = SegmentWriter(str(root))
    for h in range(hours):
        for s in range(per_hour):
            for k in range(2):
                rid = f"{endpoint}-{h}-{s}-{k}"
                ts = DAY0.timestamp() + h * 3600 + s * 60 + k
                writer.submit(tabular(rid, ts=ts, endpoint=endpoint, rows=2))
                ids.append(rid)
            writer.flush()
    writer.close()
    return ids


def files(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "predictions").rglob("*.parquet"))


def label_rows(root: Path) -> list[tuple[str, int, str]]:
    """Every label row the readers see (a row seen twice would show twice)."""
    paths = LogReader(str(root)).feedback_files()
    tables = [pq.read_table(p, columns=["request_id", "row", "label"]) for p in paths]
    return sorted(
        (str(rid), int(row), str(label))
        for t in tables
        for rid, row, label in zip(*(t[c].to_pylist() for c in t.column_names), strict=True)
    )


def rows_seen(root: Path) -> list[tuple[str, int]]:
    frame = LogReader(str(root)).predictions("churn")
    return sorted(zip(frame["request_id"], frame["row"], strict=True))


def test_compaction_keeps_every_row_once_and_sorts_by_time(tmp_path: Path) -> None:
    root = tmp_path / "log"
    ids = fill(root)
    before = rows_seen(root)
    assert len(before) == len(ids) * 2 and len(files(root)) == 90

    # the second day (hours 24..29) is still open at this time: only its closed hours compact
    report = Compactor(str(root)).compact(now=DAY0.timestamp() + 29 * 3600 + 600)
    names = files(root)
    assert [n.split("-")[0] for n in names].count("day") == 1
    assert [n.split("-")[0] for n in names].count("hour") == 5  # hours 24..28
    assert [n.split("-")[0] for n in names].count("part") == 3  # hour 29 is not over
    assert rows_seen(root) == before and report.rows == len(before) - 12

    Compactor(str(root)).compact(now=LATER)
    assert [n.split("-")[0] for n in files(root)] == ["day", "day"]
    assert rows_seen(root) == before
    frame = LogReader(str(root)).predictions("churn")
    assert frame["ts"].is_monotonic_increasing


def test_feedback_uses_the_index_and_the_raw_tail(tmp_path: Path) -> None:
    root = tmp_path / "log"
    ids = fill(root, hours=3)
    Compactor(str(root)).compact(now=LATER)
    assert all(not n.startswith("part-") for n in files(root))
    reader = LogReader(str(root))
    writer = SegmentWriter(str(root))
    writer.submit(tabular("fresh", ts=LATER, rows=3))
    writer.close()
    known = reader.request_rows([ids[0], ids[-1], "fresh", "nope"])
    assert known == {ids[0]: 2, ids[-1]: 2, "fresh": 3}
    assert reader.request_rows([ids[0]], endpoint="other") == {}
    result = FeedbackLog(str(root), reader).append([(ids[1], [1, 0]), ("fresh", [1, 1, 1])])
    assert result.accepted == 5 and not result.unknown_ids and not result.mismatched
    labelled = reader.with_labels("churn")
    assert labelled["label"].notna().sum() == 5
    # the index is what answers: without it a compacted id is unknown (no scan behind it)
    for p in (root / "index").rglob("*.parquet"):
        p.unlink()
    assert LogReader(str(root)).request_rows([ids[0], "fresh"]) == {"fresh": 3}


def test_versions_and_labels_come_from_the_indexes_after_compaction(tmp_path: Path) -> None:
    root = tmp_path / "log"
    writer = SegmentWriter(str(root))
    writer.submit(tabular("a", ts=T0, rows=2, version=3))
    writer.submit(tabular("a", ts=T0 + 1, rows=2, version=4, route="shadow"))
    writer.submit(tabular("b", ts=T0 + 2, version=3))
    writer.close()
    reader = LogReader(str(root))
    feedback = FeedbackLog(str(root), reader)
    feedback.append([("a", [1, 0])], ts=T0 + 60)
    raw = reader.requests(["a", "b"])  # from the raw tail
    Compactor(str(root)).compact(now=LATER)
    assert not list(root.rglob("part-*.parquet"))  # predictions and labels compacted
    fresh = LogReader(str(root))
    expected = {
        "a": LoggedRequest(2, "churn-model", 3),  # the version that answered, not the shadow
        "b": LoggedRequest(1, "churn-model", 3),
    }
    assert raw == expected and fresh.requests(["a", "b"]) == expected
    assert fresh.labelled_ids(["a", "b"]) == {"a"}
    with pytest.raises(Conflict, match="already have a label"):
        FeedbackLog(str(root), fresh).append([("a", [0, 0])])
    # the indexes are what answer: without them compacted requests and labels are unknown
    for index in ("index", "label-index"):
        for p in (root / index).rglob("*.parquet"):
            p.unlink()
    blind = LogReader(str(root))
    assert blind.requests(["a"]) == {} and blind.labelled_ids(["a"]) == set()


def test_a_late_segment_in_a_compacted_day_is_seen(tmp_path: Path) -> None:
    root = tmp_path / "log"
    fill(root, hours=2, per_hour=1)
    Compactor(str(root)).compact(now=LATER)
    (day,) = (root / "predictions").rglob("date=*")
    os.utime(day, (T0, T0))  # compacted long ago: the reader stops listing the folder
    reader = LogReader(str(root))
    assert reader.request_rows(["late"]) == {}
    assert str(day) in reader._final_days
    writer = SegmentWriter(str(root))
    writer.submit(tabular("late", ts=DAY0.timestamp() + 7200, rows=3))
    writer.close()
    assert reader.request_rows(["late"]) == {"late": 3}


def test_a_window_opens_only_the_files_it_overlaps(tmp_path: Path) -> None:
    root = tmp_path / "log"
    fill(root, hours=30)
    Compactor(str(root)).compact(now=DAY0.timestamp() + 29 * 3600 + 600)
    reader = LogReader(str(root))
    since = DAY0 + timedelta(hours=25)
    opened = reader._files("churn", since, since + timedelta(hours=1))
    assert [Path(f).name.split("-")[0] for f in opened] == ["hour", "part", "part", "part"]
    assert reader.count("churn", since, since + timedelta(hours=1)) == 12


CRASHING = """
import os, signal, sys
from shipyard.telemetry.compaction import Compactor

root, at, skip = sys.argv[1], sys.argv[2], int(sys.argv[3])
seen = []

def step(name):
    if name == at:
        seen.append(name)
        if len(seen) > skip:
            os.kill(os.getpid(), signal.SIGKILL)

Compactor(root, on_step=step).compact(now=float(sys.argv[4]))
sys.exit(3)  # the crash point was never reached
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize(
    ("step", "skip"),
    [
        ("indexed", 0),
        ("manifest", 0),
        ("published", 0),
        ("deleting", 0),
        ("done", 0),
        ("published", 1),  # a second output committed, the first fully done
        ("deleting", 1),
        ("manifest", 2),  # the labels' day (after the two days of predictions)
        ("published", 2),
        ("deleting", 2),
    ],
)
def test_kill_9_during_compaction_loses_and_duplicates_nothing(
    tmp_path: Path, step: str, skip: int
) -> None:
    root = tmp_path / "log"
    ids = fill(root, hours=30, per_hour=2)
    before = rows_seen(root)
    labelled = ids[::5]
    for part, hour in ((labelled[:10], 1), (labelled[10:], 2)):  # two label segments of DAY0
        FeedbackLog(str(root), LogReader(str(root))).append(
            [(rid, [1, 0]) for rid in part], ts=DAY0.timestamp() + hour * 3600
        )
    labels = label_rows(root)
    assert len(labels) == 2 * len(labelled)
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.run(
        [sys.executable, "-c", CRASHING, str(root), step, str(skip), str(LATER)],
        env=env,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL
    assert rows_seen(root) == before  # readers right after the crash
    assert label_rows(root) == labels
    reader = LogReader(str(root))
    assert reader.request_rows(ids) == dict.fromkeys(ids, 2)
    assert reader.labelled_ids(ids) == set(labelled)

    report = Compactor(str(root)).compact(now=LATER)  # recovers, then finishes the job
    assert report.recovered <= 1
    assert rows_seen(root) == before
    assert label_rows(root) == labels
    assert [n.split("-")[0] for n in files(root)] == ["day", "day"]
    assert [p.name.split("-")[0] for p in (root / "feedback").rglob("*.parquet")] == ["day"]
    leftovers = [p for p in root.rglob("*") if p.name.startswith(("_", ".tmp"))]
    assert leftovers == []
    reader = LogReader(str(root))
    assert reader.request_rows(ids) == dict.fromkeys(ids, 2)
    assert reader.labelled_ids(ids) == set(labelled)


def test_retention_deletes_old_days_with_their_labels_and_index(tmp_path: Path) -> None:
    root = tmp_path / "log"
    ids = fill(root, hours=72, per_hour=1)  # three days
    reader = LogReader(str(root))
    label_day = DAY0 + timedelta(hours=2)
    FeedbackLog(str(root), reader).append([(ids[0], [1, 0])], ts=label_day.timestamp())
    FeedbackLog(str(root), reader).append([(ids[-1], [1, 0])], ts=LATER)
    maintenance = LogMaintenance(
        str(root), retention=timedelta(days=30), per_endpoint={"churn": timedelta(days=1)}
    )
    maintenance.compact(now=LATER)
    # now = the middle of the third day: the first day is entirely older than 1 day
    now = DAY0 + timedelta(days=2, hours=12)
    report = maintenance.apply_retention(now)
    assert report.index_entries == 48
    frame = LogReader(str(root)).predictions("churn")
    assert frame["ts"].min() >= DAY0 + timedelta(days=1)
    assert len(frame) == 2 * 2 * 48
    known = LogReader(str(root)).request_rows(ids)
    assert ids[0] not in known and known[ids[-1]] == 2 and len(known) == 96
    # labels follow the longest retention (30 days here): the old label is orphaned, not shown
    assert LogReader(str(root)).with_labels("churn")["label"].notna().sum() == 2
    assert not list((root / "predictions").rglob("date=2024-06-10"))


def test_a_retired_day_is_invisible_before_its_files_go(tmp_path: Path) -> None:
    root = tmp_path / "log"
    fill(root, hours=48, per_hour=1)
    day = next((root / "predictions").rglob("date=2024-06-10"))
    (day / "_retired").write_text("")
    assert LogReader(str(root)).predictions("churn")["ts"].min() >= DAY0 + timedelta(days=1)
    LogMaintenance(str(root), retention=timedelta(days=1)).apply_retention(
        DAY0 + timedelta(days=2, hours=1)
    )
    assert not day.exists()
