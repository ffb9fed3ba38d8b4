"""Ground truth: labels that arrive after the predictions, joined by request id.

A label is sent as ``(request_id, label)``: a scalar for a 1-row request, or a list of N labels in
row order for an N-row request. Every item is checked against the prediction log: ids never logged
are reported in ``FeedbackResult.unknown_ids``, lists of the wrong length in ``mismatched``, labels
that are missing or cannot be encoded in ``invalid``. Nothing is dropped silently. A label that is
not a valid value of the model's target (see ``shipyard.package.labels``) fails the call, naming
the item; relabelling a request needs ``overwrite=True`` and is audited.

Accepted labels are appended as one Parquet segment
``{root}/feedback/date={YYYY-MM-DD}/part-{time_ns}-{pid}-{seq}.parquet`` (the UTC day of arrival;
same write-then-publish protocol as the prediction log: durable when ``append`` returns; calls that
arrive while a segment is being written share the next one, a group commit) with columns
``request_id`` (string), ``row`` (int32), ``label`` (string: the JSON text of the value, so ints,
floats, strings and bools all fit one column) and ``ts`` (timestamp[us, UTC]).

Upserts are resolved when reading (``LogReader.with_labels``): the latest ``ts`` wins, ties broken
by segment name (write order) then position in the segment. Writes stay append-only, and sending a
label again for the same (request_id, row) with ``overwrite=True`` corrects it.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from shipyard.core.errors import Conflict, InvalidArgument, NotFound, SchemaError
from shipyard.package.labels import LabelRule
from shipyard.telemetry._storage import FEEDBACK, SegmentStore, date_dir, segment_name
from shipyard.telemetry.reader import LoggedRequest, LogReader

FEEDBACK_COMPRESSION = "zstd"  # small, rare writes: favour size


@dataclass
class FeedbackResult:
    """What happened to one batch of labels."""

    accepted: int = 0  # label rows written
    unknown_ids: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, int, int]] = field(default_factory=list)  # (id, expected, got)
    invalid: list[str] = field(default_factory=list)  # ids whose label is missing/unencodable

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "unknown_ids": list(self.unknown_ids),
            "mismatched": [list(m) for m in self.mismatched],
            "invalid": list(self.invalid),
        }


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def encode_label(value: Any) -> str:
    """The JSON text of one label; raises ValueError for a missing or unencodable one."""
    if _missing(value):
        raise ValueError("missing label")
    try:
        return json.dumps(value, default=_plain, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(str(exc)) from exc


def _as_list(label: Any) -> list[Any] | None:
    if isinstance(label, list | tuple):
        return list(label)
    if isinstance(label, np.ndarray) and label.ndim > 0:
        return list(label)
    if isinstance(label, pd.Series):
        return label.tolist()
    return None


class FeedbackLog:
    """Append labels for logged predictions; see the module doc for the checks and the layout.

    ``label_rule(model, version)`` says what a label of that version's target may be (classes seen
    in training, finite numbers): a label it rejects fails the whole call with a ``SchemaError``
    naming the item, before anything is written. A request that already has a label is relabelled
    only with ``overwrite=True``, and ``audit`` records who did it. ``flush`` is called once when
    some ids are not in the log yet (their predictions may still be queued in memory).
    """

    def __init__(
        self,
        root: str,
        reader: LogReader,
        *,
        storage_options: dict[str, Any] | None = None,
        label_rule: Callable[[str, int], LabelRule] | None = None,
        audit: Callable[[str, str, dict[str, Any], str | None], None] | None = None,
        flush: Callable[[], object] | None = None,
    ) -> None:
        self.store = SegmentStore(root, storage_options)
        self.reader = reader
        self.label_rule = label_rule
        self.audit = audit
        self.flush = flush
        self._turn = threading.Condition()  # the group commit: who writes next, who waits
        self._queue: list[_Labels] = []
        self._committing = False

    def _known(self, ids: Sequence[str]) -> dict[str, LoggedRequest]:
        known = self.reader.requests(ids)
        if self.flush is not None and any(rid not in known for rid in ids):
            self.flush()
            known = self.reader.requests(ids)
        return known

    def _rule(self, request: LoggedRequest) -> LabelRule | None:
        if self.label_rule is None or request.model is None or request.version is None:
            return None
        try:
            return self.label_rule(request.model, request.version)
        except NotFound:  # the version was deleted since: nothing left to check against
            return None

    def _check(self, rule: LabelRule | None, value: Any, where: str, coerce: bool) -> Any:
        if rule is None or _missing(value):
            return value
        if coerce and isinstance(value, str) and not rule.accepts(value):
            value = _parse_text(value)
        problem = rule.problem(value)
        if problem is not None:
            raise SchemaError(f"{where}: {problem}", field=where)
        return value

    def append(
        self,
        items: Sequence[tuple[str, object]],
        *,
        ts: float | None = None,
        overwrite: bool = False,
        actor: str | None = None,
        coerce_text: bool = False,
    ) -> FeedbackResult:
        """Record labels given as (request_id, label) pairs; returns what was accepted."""
        pairs: list[tuple[str, object]] = []
        for item in items:
            if not isinstance(item, tuple | list) or len(item) != 2:
                raise InvalidArgument(f"a feedback item is (request_id, label), got {item!r}")
            pairs.append((str(item[0]), item[1]))
        known = self._known([rid for rid, _ in pairs])
        result = FeedbackResult()
        ids: list[str] = []
        rows: list[int] = []
        labels: list[str] = []
        for i, (rid, label) in enumerate(pairs):
            request = known.get(rid)
            if request is None:
                _note(result.unknown_ids, rid)
                continue
            expected = request.rows
            values = _as_list(label)
            listed = values is not None
            if values is None:
                values = [label]
            if len(values) != expected:
                result.mismatched.append((rid, expected, len(values)))
                continue
            rule = self._rule(request)
            where = f"items[{i}].label"
            values = [
                self._check(rule, v, f"{where}[{j}]" if listed else where, coerce_text)
                for j, v in enumerate(values)
            ]
            try:
                encoded = [encode_label(v) for v in values]
            except ValueError:
                _note(result.invalid, rid)
                continue
            ids.extend([rid] * expected)
            rows.extend(range(expected))
            labels.extend(encoded)
        result.accepted = self._write(_Labels(ids, rows, labels, ts, overwrite, actor))
        return result

    def append_rows(
        self,
        items: Sequence[tuple[str, int, object]],
        *,
        ts: float | None = None,
        overwrite: bool = False,
        actor: str | None = None,
        coerce_text: bool = False,
    ) -> FeedbackResult:
        """Record labels of single rows, given as (request_id, row, label) triples."""
        known = self._known([str(rid) for rid, _, _ in items])
        result = FeedbackResult()
        ids: list[str] = []
        rows: list[int] = []
        labels: list[str] = []
        beyond: dict[str, int] = {}
        for i, (rid_, row_, label) in enumerate(items):
            rid, row = str(rid_), int(row_)
            request = known.get(rid)
            if request is None:
                _note(result.unknown_ids, rid)
            elif not 0 <= row < request.rows:
                beyond[rid] = max(beyond.get(rid, 0), row + 1)
            else:
                label = self._check(self._rule(request), label, f"items[{i}].label", coerce_text)
                try:
                    labels.append(encode_label(label))
                except ValueError:
                    _note(result.invalid, rid)
                    continue
                ids.append(rid)
                rows.append(row)
        result.mismatched = [(rid, known[rid].rows, got) for rid, got in beyond.items()]
        result.accepted = self._write(_Labels(ids, rows, labels, ts, overwrite, actor))
        return result

    def _guard_overwrite(self, labels: _Labels, taken: set[str]) -> None:
        """Refuse to relabel without ``overwrite``; audit a relabelling that is allowed.

        ``taken``: the ids labelled before this call (in the log, or earlier in its batch).
        """
        existing = sorted(taken.intersection(labels.ids))
        if not existing:
            return
        if not labels.overwrite:
            shown = ", ".join(existing[:5]) + (", ..." if len(existing) > 5 else "")
            raise Conflict(
                f"{len(existing)} request(s) already have a label ({shown}); "
                'send "overwrite": true to replace them'
            )
        if self.audit is not None:
            self.audit(
                "feedback.overwrite",
                "feedback",
                {"requests": len(existing), "request_ids": existing[:1000]},
                labels.actor,
            )

    def ingest_file(
        self,
        path: str | Path,
        id_column: str = "request_id",
        label_column: str = "label",
        *,
        ts: float | None = None,
        overwrite: bool = False,
        actor: str | None = None,
    ) -> FeedbackResult:
        """Load labels from a CSV or Parquet file.

        With a ``row`` column each line labels one row of a request. Without it, an id on one
        line takes a scalar label (a 1-row request) and an id on several lines takes their labels,
        in file order, as the list for its rows.
        """
        frame = _read_table(path, id_column)
        for name in (id_column, label_column):
            if name not in frame.column_names:
                raise InvalidArgument(f"{path}: no column {name!r} (found {frame.column_names})")
        raw_ids = frame.column(id_column).to_pylist()
        if any(v is None for v in raw_ids):
            raise InvalidArgument(f"{path}: {id_column!r} has empty values")
        ids = [str(v) for v in raw_ids]
        labels = frame.column(label_column).to_pylist()
        if "row" in frame.column_names and label_column != "row" and id_column != "row":
            row_values = frame.column("row").to_pylist()
            if any(v is None for v in row_values):
                raise InvalidArgument(f"{path}: 'row' has empty values")
            return self.append_rows(
                [(rid, int(r), lab) for rid, r, lab in zip(ids, row_values, labels, strict=True)],
                ts=ts,
                overwrite=overwrite,
                actor=actor,
                coerce_text=True,
            )
        grouped: dict[str, list[Any]] = {}
        for rid, lab in zip(ids, labels, strict=True):
            grouped.setdefault(str(rid), []).append(lab)
        items = [(rid, labs[0] if len(labs) == 1 else labs) for rid, labs in grouped.items()]
        return self.append(items, ts=ts, overwrite=overwrite, actor=actor, coerce_text=True)

    def _write(self, labels: _Labels) -> int:
        """Write one call's labels, durably, in a group commit; the number of label rows."""
        if not labels.ids:
            return 0
        with self._turn:
            self._queue.append(labels)
            while self._committing and not labels.done:
                self._turn.wait()
            lead = not labels.done
            if lead:  # commit every call waiting now, this one included
                self._committing = True
                batch, self._queue = self._queue, []
        if lead:
            try:
                self._commit(batch)
            finally:
                with self._turn:
                    self._committing = False
                    self._turn.notify_all()
        if labels.error is not None:
            raise labels.error
        return len(labels.ids)

    def _commit(self, batch: list[_Labels]) -> None:
        """Check and write a batch of calls (each call's outcome is set on it, never raised).

        The overwrite guard runs here, for the calls in order, so of two calls labelling the same
        request without ``overwrite`` exactly one wins. The accepted calls' labels then go into one
        segment per day (one fsync for all), in call order: equal times resolve to the later call.
        """
        try:
            taken = self.reader.labelled_ids([rid for labels in batch for rid in labels.ids])
            accepted = []
            for labels in batch:
                try:
                    self._guard_overwrite(labels, taken)
                except Exception as exc:  # this call fails; the others go on
                    labels.error = exc
                    continue
                taken.update(labels.ids)
                accepted.append(labels)
            now = time.time()
            days: dict[str, list[pa.Table]] = {}
            for labels in accepted:
                when = now if labels.ts is None else float(labels.ts)
                day = date_dir(datetime.fromtimestamp(when, UTC).date())
                days.setdefault(day, []).append(labels.table(when))
            for day, tables in days.items():
                table, name = pa.concat_tables(tables), segment_name()
                self.store.publish(
                    (FEEDBACK, day), table, compression=FEEDBACK_COMPRESSION, name=name
                )
                self.reader.saw_labels(day, name, table)
        except BaseException as exc:  # nothing of the batch is acknowledged as written
            for labels in batch:
                if labels.error is None:
                    labels.error = exc
        finally:
            for labels in batch:
                labels.done = True


@dataclass(eq=False)
class _Labels:
    """The checked labels of one call, waiting for their group commit."""

    ids: list[str]
    rows: list[int]
    labels: list[str]
    ts: float | None
    overwrite: bool
    actor: str | None
    done: bool = False
    error: BaseException | None = None

    def table(self, when: float) -> pa.Table:
        return pa.table(
            {
                "request_id": pa.array(self.ids, pa.string()),
                "row": pa.array(self.rows, pa.int32()),
                "label": pa.array(self.labels, pa.string()),
                "ts": pa.array([round(when * 1e6)] * len(self.ids), pa.timestamp("us", tz="UTC")),
            }
        )


def _note(target: list[str], rid: str) -> None:
    if rid not in target:
        target.append(rid)


def _parse_text(text: str) -> Any:
    """A label read from a text file, typed: ``"1"`` -> 1, ``"2.5"`` -> 2.5, ``"true"`` -> True."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, int | float | bool) else text


def _read_table(path: str | Path, id_column: str) -> pa.Table:
    name = str(path)
    suffix = name.lower().rsplit(".", 1)[-1] if "." in name else ""
    try:
        if suffix in ("parquet", "pq"):
            return pq.read_table(name)
        if suffix in ("csv", "tsv", "txt"):
            frame = pd.read_csv(
                name,
                sep="\t" if suffix == "tsv" else ",",
                dtype={id_column: "string"},
                dtype_backend="numpy_nullable",
                keep_default_na=True,
            )
            return pa.Table.from_pandas(frame, preserve_index=False)
    except FileNotFoundError as exc:
        raise NotFound(f"no feedback file at {name}") from exc
    raise InvalidArgument(f"{name}: feedback files are .csv, .tsv or .parquet")


__all__ = ["FeedbackLog", "FeedbackResult", "encode_label"]
