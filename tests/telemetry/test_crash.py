"""A process killed with SIGKILL while logging leaves only complete, readable segments."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from shipyard.telemetry import LogReader, SegmentWriter
from tests.telemetry.events import tabular

SRC = Path(__file__).resolve().parents[2] / "src"

CHILD = """
import sys, time
import numpy as np, pandas as pd
from shipyard.telemetry import PredictionEvent, SegmentWriter

root, progress = sys.argv[1], sys.argv[2]
writer = SegmentWriter(root, flush_interval=0.2, max_queue_rows=50_000_000).start()
frame = pd.DataFrame({"x": np.arange(4.0), "kind": ["a", "b", "c", "d"]})
preds = np.zeros(4)
submitted = 0
last = 0.0
i = 0
with open(progress, "a") as out:
    while True:
        now = time.time()
        for _ in range(20):
            event = PredictionEvent(
                f"r{i}", now, "crash", "m", 1, "primary", "ok", 1.0, frame, preds
            )
            assert writer.submit(event)
            i += 1
            submitted += 4
        after = time.time()
        if after - last >= 0.05:
            out.write(f"{after} {submitted} {writer.written_rows}\\n")
            out.flush()
            last = after
        time.sleep(0.002)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_leaves_only_readable_segments(tmp_path: Path) -> None:
    root = tmp_path / "log"
    progress = tmp_path / "progress.txt"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(root), str(progress)], env=env)
    try:
        deadline = time.monotonic() + 120

        def written() -> int:  # rows the child saw published (renamed into place) so far
            lines = [line.split() for line in progress.read_text().splitlines()]
            return max((int(line[2]) for line in lines if len(line) == 3), default=0)

        # kill it mid-logging, once a few segments are published: an event, not a sleep
        while not (progress.exists() and written() >= 2_000):
            assert proc.poll() is None, "the logging process died on its own"
            assert time.monotonic() < deadline, "the logging process never published segments"
            time.sleep(0.05)
        assert proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    safe = written()  # published before the last progress line: on disk whatever came after
    assert safe >= 2_000

    segments = sorted(root.rglob("part-*.parquet"))
    assert segments
    on_disk = sum(pq.read_table(p).num_rows for p in segments)  # every one opens
    read = LogReader(str(root)).count("crash")
    assert read == on_disk
    assert read >= safe


LABELLER = """
import sys
from shipyard.telemetry import FeedbackLog, LogReader

root, progress, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
log = FeedbackLog(root, LogReader(root))
with open(progress, "a") as out:
    for i in range(count):
        assert log.append([(f"r{i}", i % 2)]).accepted == 1
        out.write(f"{i + 1}\\n")  # acknowledged: on disk, whatever comes next
        out.flush()
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_while_labelling_keeps_every_acknowledged_label(tmp_path: Path) -> None:
    root = tmp_path / "log"
    progress = tmp_path / "progress.txt"
    count = 5_000
    writer = SegmentWriter(str(root))
    for i in range(count):
        writer.submit(tabular(f"r{i}"))
    writer.close()
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen(
        [sys.executable, "-c", LABELLER, str(root), str(progress), str(count)], env=env
    )
    try:
        deadline = time.monotonic() + 120

        def acknowledged() -> int:
            lines = progress.read_text().split()
            return int(lines[-1]) if lines else 0

        while not (progress.exists() and acknowledged() >= 50):  # an event, not a sleep
            assert proc.poll() is None, "the labelling process died on its own"
            assert time.monotonic() < deadline, "the labelling process never acknowledged"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    acked = acknowledged()
    assert 50 <= acked < count

    segments = sorted((root / "feedback").rglob("part-*.parquet"))
    on_disk = [rid for p in segments for rid in pq.read_table(p)["request_id"].to_pylist()]
    assert len(on_disk) == len(set(on_disk))  # every segment opens; no label twice
    reader = LogReader(str(root))
    ids = [f"r{i}" for i in range(count)]
    labelled = reader.labelled_ids(ids)
    assert labelled == set(on_disk) >= {f"r{i}" for i in range(acked)}
    assert reader.with_labels("churn")["label"].notna().sum() == len(on_disk)
