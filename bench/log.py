"""A month of prediction-log traffic for two endpoints: compaction, feedback lookups, window reads.

Writes raw segments exactly as the server's writer publishes them (``SegmentStore.publish``, one
Parquet file per flush), ``--segments-per-hour`` per endpoint-hour of ``--requests`` 1-row
requests each (defaults: 7 x 100, so 2 endpoints x 30 days x 24 h x 7 = 10,080 segments and
1,008,000 requests), one week at a time. After each week it runs the compactor as the controller
would at noon of the week's last day (finished days become ``day-`` files, the morning's hours
``hour-`` files, the afternoon stays raw: the index and the raw tail both answer), then measures
(labels are sent at that simulated time, so the next stage compacts them and the label index
answers for them; ``overwrite``, as a random id may have been labelled before):

* feedback: ``LogReader.request_rows`` of a random logged request id (the lookup: raw tail, then
  the index), then ``FeedbackLog.append`` of one label for it (the lookup again, the version check,
  the overwrite check in the label index + the label segment's durable write), ``--lookups`` calls
  each; p50/p95 in ms, and the CPU time of an append (mean; what other tenants of the machine
  cannot inflate: flat if the path is). Baseline, in the same stage: publishing a 1-row label segment alone (the
  durable write: fsync, rename, folder fsync), p95 and the ratio feedback p95 / publish p95;
* feedback under load: ``--clients`` threads sending ``--burst`` labels each at once; p95 per
  call, labels/s against the sequential rate, and calls per segment written (the group commit);
* a 1-hour monitor window: ``LogReader.batches`` of the primary rows of a random past hour
  (what a monitor reads), 5 windows; the slowest in s;
* disk use and file counts, and the compaction time of the stage.

Goals (issue 11): feedback p95 <= 20 ms, flat as the log grows; 1-hour window <= 0.5 s.

    PYTHONPATH=src python bench/log.py                 # the full month (~5 min on 2 cores)
    PYTHONPATH=src python bench/log.py --days 7 --quick   # one week, fewer calls (~1.5 min)
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from shipyard.telemetry import FeedbackLog, LogReader
from shipyard.telemetry._storage import (
    FEEDBACK,
    PREDICTIONS,
    SegmentStore,
    date_dir,
    endpoint_dir,
    is_raw,
)
from shipyard.telemetry.compaction import Compactor
from shipyard.telemetry.feedback import FEEDBACK_COMPRESSION
from shipyard.telemetry.writer import COMPRESSION

ENDPOINTS = ("churn", "fraud")
START = datetime(2026, 1, 1, tzinfo=UTC)


def segment(
    endpoint: str, start_s: float, seconds: float, n: int, seq: int, rng: np.random.Generator
) -> tuple[pa.Table, list[str]]:
    ids = [f"{endpoint[0]}{seq:07d}{i:03d}" for i in range(n)]
    ts = np.sort(start_s + rng.uniform(0, seconds, n))
    x = rng.normal(size=(n, 4))
    proba = 1 / (1 + np.exp(-x[:, 0]))
    table = pa.table(
        {
            "request_id": pa.array(ids, pa.string()),
            "row": pa.array(np.zeros(n, np.int32)),
            "ts": pa.array((ts * 1e6).astype(np.int64), pa.timestamp("us", tz="UTC")),
            "endpoint": pa.array([endpoint] * n, pa.string()),
            "model": pa.array([endpoint] * n, pa.string()),
            "version": pa.array(np.ones(n, np.int32)),
            "route": pa.array(["primary"] * n, pa.string()),
            "status": pa.array(["ok"] * n, pa.string()),
            "latency_ms": pa.array(rng.gamma(2.0, 2.0, n).astype(np.float32)),
            "error": pa.nulls(n, pa.string()),
            **{f"in.f{j}": pa.array(x[:, j]) for j in range(4)},
            "out.prediction": pa.array((proba > 0.5).astype(np.int64)),
            "out.proba.0": pa.array(1 - proba),
            "out.proba.1": pa.array(proba),
        }
    )
    return table, ids


def disk(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def label_segments(root: Path) -> int:
    return sum(1 for p in (root / FEEDBACK).rglob("*.parquet") if is_raw(p.name))


def publish_baseline(root: Path, n: int) -> list[float]:
    """Milliseconds of publishing a 1-row label segment alone: the durable write's floor."""
    store = SegmentStore(str(root))
    table = pa.table(
        {
            "request_id": pa.array(["x"], pa.string()),
            "row": pa.array([0], pa.int32()),
            "label": pa.array(["1"], pa.string()),
            "ts": pa.array([0], pa.timestamp("us", tz="UTC")),
        }
    )
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        store.publish(("baseline",), table, compression=FEEDBACK_COMPRESSION)
        times.append((time.perf_counter() - t0) * 1000)
    shutil.rmtree(root / "baseline", ignore_errors=True)
    return times


def burst(feedback: FeedbackLog, ids: list[list[str]], now: float) -> tuple[list[float], float]:
    """Each list of ids sent by its own thread, one label per call, all at once: per-call ms and
    the wall time in s."""

    def client(mine: list[str]) -> list[float]:
        out = []
        for rid in mine:
            t0 = time.perf_counter()
            result = feedback.append([(rid, 0)], ts=now, overwrite=True)
            out.append((time.perf_counter() - t0) * 1000)
            assert result.accepted == 1, (rid, result.to_dict())
        return out

    started = time.perf_counter()
    with ThreadPoolExecutor(len(ids)) as pool:
        times = [t for part in pool.map(client, ids) for t in part]
    return times, time.perf_counter() - started


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--segments-per-hour", type=int, default=7)
    ap.add_argument("--requests", type=int, default=100, help="requests per segment")
    ap.add_argument("--lookups", type=int, default=200)
    ap.add_argument("--clients", type=int, default=4, help="concurrent feedback senders")
    ap.add_argument("--burst", type=int, default=25, help="labels per concurrent sender")
    ap.add_argument("--quick", action="store_true", help="fewer calls (50 lookups, bursts of 10)")
    ap.add_argument("--root", type=Path, default=None, help="log folder (default: a temp dir)")
    ap.add_argument("--json", default=None, help="also write the rows as JSON here")
    args = ap.parse_args()
    lookups = 50 if args.quick else args.lookups
    per_client = 10 if args.quick else args.burst
    rng = np.random.default_rng(7)
    pick = random.Random(7)
    root = args.root or Path(tempfile.mkdtemp(prefix="shipyard-bench-log-"))
    store = SegmentStore(str(root))
    compactor = Compactor(str(root))
    reader = LogReader(str(root))
    feedback = FeedbackLog(str(root), reader)
    all_ids: list[str] = []
    segments = 0
    rows_out: list[dict[str, object]] = []
    seq = 0
    try:
        for first in range(0, args.days, 7):
            last = min(first + 7, args.days)
            started = time.perf_counter()
            for day in range(first, last):
                for hour in range(24):
                    base = (START + timedelta(days=day, hours=hour)).timestamp()
                    step = 3600 / args.segments_per_hour
                    for endpoint in ENDPOINTS:
                        for k in range(args.segments_per_hour):
                            table, ids = segment(
                                endpoint, base + k * step, step, args.requests, seq, rng
                            )
                            seq += 1
                            all_ids.extend(ids)
                            d = (START + timedelta(days=day)).date()
                            store.publish(
                                (PREDICTIONS, endpoint_dir(endpoint), date_dir(d)),
                                table,
                                compression=COMPRESSION,
                            )
                            segments += 1
            write_s = time.perf_counter() - started
            raw_bytes, _ = disk(root / "predictions")
            now = (START + timedelta(days=last - 1, hours=12)).timestamp() + 300
            report = compactor.compact(now=now)
            for _ in range(5):  # warm the reader (footer caches, raw tail) as a server would be
                feedback.append([(pick.choice(all_ids), 1)], ts=now, overwrite=True)
            times, finds, cpu = [], [], []
            for _ in range(lookups):
                rid = pick.choice(all_ids)
                t0 = time.perf_counter()
                found = reader.request_rows([rid])
                finds.append((time.perf_counter() - t0) * 1000)
                assert found == {rid: 1}, (rid, found)
                t0, c0 = time.perf_counter(), time.process_time()
                result = feedback.append([(rid, 1)], ts=now, overwrite=True)
                times.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
                assert result.accepted == 1, (rid, result.to_dict())
            baseline = publish_baseline(root, lookups)
            segments_before = label_segments(root)
            concurrent, wall = burst(
                feedback,
                [[pick.choice(all_ids) for _ in range(per_client)] for _ in range(args.clients)],
                now,
            )
            written = label_segments(root) - segments_before
            windows = []
            for _ in range(5):
                hour = pick.randrange(0, (last - 1) * 24 + 12)
                since = START + timedelta(hours=hour)
                t0 = time.perf_counter()
                n = sum(
                    b.num_rows
                    for b in reader.batches(
                        pick.choice(ENDPOINTS), since, since + timedelta(hours=1)
                    )
                )
                windows.append(time.perf_counter() - t0)
                assert n == args.segments_per_hour * args.requests, n
            pred_bytes, pred_files = disk(root / "predictions")
            index_bytes, index_files = disk(root / "index")
            row = {
                "days": last,
                "requests": len(all_ids),
                "raw_segments": segments,
                "write_s": round(write_s, 1),
                "raw_MB": round(raw_bytes / 1e6, 1),
                "compact_s": round(report.seconds, 1),
                "compacted_inputs": report.inputs,
                "files_after": pred_files,
                "log_MB": round(pred_bytes / 1e6, 1),
                "index_MB": round(index_bytes / 1e6, 1),
                "index_files": index_files,
                "lookup_p50_ms": round(statistics.median(finds), 2),
                "lookup_p95_ms": round(pct(finds, 95), 2),
                "feedback_p50_ms": round(statistics.median(times), 2),
                "feedback_p95_ms": round(pct(times, 95), 2),
                "feedback_cpu_ms": round(statistics.mean(cpu), 2),
                "publish_p95_ms": round(pct(baseline, 95), 2),
                "feedback_vs_publish_p95": round(pct(times, 95) / pct(baseline, 95), 2),
                "concurrent_p95_ms": round(pct(concurrent, 95), 2),
                "labels_per_s_seq": round(1000 / statistics.mean(times), 1),
                "labels_per_s_concurrent": round(len(concurrent) / wall, 1),
                "calls_per_segment": round(len(concurrent) / max(written, 1), 2),
                "window_1h_max_s": round(max(windows), 3),
                "window_1h_p50_s": round(statistics.median(windows), 3),
            }
            rows_out.append(row)
            print(json.dumps(row), flush=True)
    finally:
        reader.close()
        if args.root is None:
            shutil.rmtree(root, ignore_errors=True)
    cols = list(rows_out[0])
    print()
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows_out:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    worst_fb = max(float(str(r["feedback_p95_ms"])) for r in rows_out)
    worst_win = max(float(str(r["window_1h_max_s"])) for r in rows_out)
    print(f"\nfeedback p95 <= 20 ms: {'PASS' if worst_fb <= 20 else 'FAIL'} (worst {worst_fb} ms)")
    print(f"1-hour window <= 0.5 s: {'PASS' if worst_win <= 0.5 else 'FAIL'} (worst {worst_win} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows_out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
