"""Compaction: many small raw segments become a few large files, atomically.

Per day folder (``predictions/endpoint=E/date=D`` and ``feedback/date=D``):

* once an hour is over (plus ``settle`` seconds for late flushes), the raw ``part-`` segments whose
  first row falls in it become one ``hour-`` file;
* once the day is over, everything live in the folder becomes one ``day-`` file.

Outputs are sorted by time (predictions by ``ts, request_id, row``; labels by ``ts``, keeping write
order for equal times, which the label upsert relies on) and written with Zstd in row groups of
``row_group_size`` rows, with statistics, so a reader skips the row groups outside its window.

One compaction, step by step (a ``kill -9`` may stop it anywhere):

1. index entries of the raw inputs are added to the request-id index (``index``), or for labels
   to the label index;
2. ``_compaction-{output}.json`` names the output and its inputs (atomic publish);
3. the output is written under a temporary name and renamed: **the commit point**. From here on
   readers skip the inputs (they are *superseded*); before it they ignore the manifest;
4. the inputs are deleted, then the manifest.

A reader therefore sees every row exactly once whatever the step reached. The next run first
*recovers*: a manifest whose output exists has its remaining inputs and then itself deleted; one
whose output does not exist is deleted (its inputs are still live). Compaction must run in one
process at a time (the controller, which holds the registry lease).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from shipyard.telemetry._storage import (
    FEEDBACK,
    LABEL_INDEX,
    MANIFEST_PREFIX,
    RETIRED,
    TMP_PREFIX,
    SegmentStore,
    compacted_name,
    is_raw,
    manifest_name,
)
from shipyard.telemetry.index import ENTRY_COLUMNS, RequestIndex, entries_of, label_entries_of
from shipyard.telemetry.records import _concat

log = logging.getLogger("shipyard.telemetry")

DEFAULT_SETTLE_S = 120.0
DEFAULT_ROW_GROUP = 65_536
COMPRESSION = "zstd"
HOUR_US = 3_600_000_000


@dataclass
class CompactionReport:
    outputs: int = 0
    inputs: int = 0
    rows: int = 0
    indexed: int = 0
    recovered: int = 0
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "outputs": self.outputs,
            "inputs": self.inputs,
            "rows": self.rows,
            "indexed": self.indexed,
            "recovered": self.recovered,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class _Job:
    folder: str
    level: str  # "hour" or "day"
    inputs: tuple[str, ...]
    predictions: bool


def _day_end(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() + 86_400


class Compactor:
    """Compacts the log under ``root`` (see the module doc); ``on_step`` observes each step."""

    def __init__(
        self,
        root: str,
        *,
        storage_options: dict[str, Any] | None = None,
        settle: float = DEFAULT_SETTLE_S,
        row_group_size: int = DEFAULT_ROW_GROUP,
        on_step: Callable[[str], None] | None = None,
    ) -> None:
        self.store = SegmentStore(root, storage_options)
        self.index = RequestIndex(self.store)
        self.label_index = RequestIndex(self.store, LABEL_INDEX)
        self.settle = settle
        self.row_group_size = row_group_size
        self.on_step = on_step

    def _step(self, name: str) -> None:
        if self.on_step is not None:
            self.on_step(name)

    # -- planning -------------------------------------------------------------------------------

    def _folders(self) -> list[tuple[date, str, bool]]:
        """(day, folder, holds predictions) of every day folder of the log."""
        out = [
            (day, path, True)
            for endpoint in self.store.endpoint_folders()
            for day, path in self.store.day_folders(endpoint)
        ]
        out += [
            (day, path, False) for day, path in self.store.day_folders(self.store.path(FEEDBACK))
        ]
        return out

    def _first_us(self, path: str) -> int:
        """The earliest ``ts`` of a raw segment (footer statistics; the column if absent)."""
        meta = (
            pq.read_metadata(path)
            if self.store.local
            else pq.read_metadata(self.store.fs.open(path, "rb"))
        )
        col = meta.schema.to_arrow_schema().get_field_index("ts")
        lows = []
        for i in range(meta.num_row_groups):
            stats = meta.row_group(i).column(col).statistics
            if stats is None or not stats.has_min_max:
                break
            lows.append(stats.min)
        else:
            if lows:
                return int(min(lows).timestamp() * 1_000_000)
        ts = self.store.read_table(path, ["ts"]).column("ts")
        return int(pc.min(ts).value)

    def _plan(self, now: float) -> list[_Job]:
        jobs: list[_Job] = []
        for day, folder, predictions in self._folders():
            names = self.store.ls(folder)
            if RETIRED in names:
                continue
            live = self.store.live_segments(folder)
            if not live:
                continue
            if _day_end(day) + self.settle <= now:
                if len(live) > 1 or is_raw(live[0]):
                    jobs.append(_Job(folder, "day", tuple(live), predictions))
                continue
            hours: dict[int, list[str]] = {}
            for name in live:
                if is_raw(name):
                    first = self._first_us(f"{folder}/{name}")
                    hours.setdefault(first // HOUR_US, []).append(name)
            for hour, inputs in sorted(hours.items()):
                if (hour + 1) * HOUR_US / 1e6 + self.settle <= now:
                    jobs.append(_Job(folder, "hour", tuple(inputs), predictions))
        return jobs

    # -- running --------------------------------------------------------------------------------

    def compact(self, now: float | None = None) -> CompactionReport:
        """Recover interrupted compactions, then compact every closed hour and day."""
        started = time.perf_counter()
        now = time.time() if now is None else now
        report = CompactionReport(recovered=self.recover())
        jobs = self._plan(now)
        for predictions, index, columns, entries in (
            (True, self.index, ENTRY_COLUMNS, entries_of),
            (False, self.label_index, ["request_id", "row", "ts"], label_entries_of),
        ):
            raw = [
                f"{j.folder}/{n}"
                for j in jobs
                if j.predictions == predictions
                for n in j.inputs
                if is_raw(n)
            ]
            if raw:
                tables = [self.store.read_table(p, columns) for p in raw]
                report.indexed += index.add(entries(_concat(tables)))
        if report.indexed:
            self._step("indexed")
        for job in jobs:
            report.rows += self._run(job)
            report.outputs += 1
            report.inputs += len(job.inputs)
        report.seconds = time.perf_counter() - started
        if report.outputs:
            log.info("prediction log compacted: %s", report.to_dict())
        return report

    def _run(self, job: _Job) -> int:
        tables = [self.store.read_table(f"{job.folder}/{n}") for n in job.inputs]
        table = _concat(tables)
        if job.predictions:
            table = table.sort_by(
                [("ts", "ascending"), ("request_id", "ascending"), ("row", "ascending")]
            )
        else:  # stable: equal times keep write order (inputs are listed in write order)
            table = table.take(pc.sort_indices(table, [("ts", "ascending")]))
        ts = table.column("ts")
        low, high = int(pc.min(ts).value), int(pc.max(ts).value)
        output = compacted_name(job.level, low, high)
        manifest = f"{job.folder}/{manifest_name(output)}"
        self.store.write_text(manifest, json.dumps({"output": output, "inputs": list(job.inputs)}))
        self._step("manifest")
        self.store.publish_to(
            job.folder,
            table,
            compression=COMPRESSION,
            name=output,
            row_group_size=self.row_group_size,
        )
        self._step("published")
        for i, name in enumerate(job.inputs):
            self.store.delete(f"{job.folder}/{name}")
            if i == 0:
                self._step("deleting")
        self.store.delete(manifest)
        self._step("done")
        return int(table.num_rows)

    def recover(self) -> int:
        """Finish or abandon the compactions a killed run left; returns how many."""
        count = 0
        for _, folder, _ in self._folders():
            names = self.store.ls(folder)
            for name in names:
                if not (name.startswith(MANIFEST_PREFIX) and name.endswith(".json")):
                    continue
                path = f"{folder}/{name}"
                text = self.store.read_text(path)
                try:
                    doc = json.loads(text or "")
                    output, inputs = str(doc["output"]), [str(i) for i in doc["inputs"]]
                except (ValueError, KeyError, TypeError):
                    output, inputs = "", []
                if output and output in names:
                    for stale in inputs:
                        self.store.delete(f"{folder}/{stale}")
                elif output:
                    self.store.delete(f"{folder}/{TMP_PREFIX}{output}")
                self.store.delete(path)
                count += 1
        return count


__all__ = ["CompactionReport", "Compactor"]
