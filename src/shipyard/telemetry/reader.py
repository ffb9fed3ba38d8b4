"""Query the prediction and feedback log with DuckDB.

A ``LogReader`` owns one in-memory DuckDB database (each call runs on its own cursor, so one reader
can serve several threads). For non-local roots the fsspec filesystem is registered with DuckDB.

Every query lists the published segments first, keeping only the relevant partitions
(``endpoint=`` and the ``date=`` days covering ``[since, until)``) and only ``part-*.parquet``
names, then reads that explicit list with ``read_parquet(..., union_by_name=true,
hive_partitioning=true)``: segments with different input columns read as one table (missing columns
are null), in-flight ``.tmp-`` files are never seen, and an empty window gives an empty frame with
the base columns instead of an error. User values always reach SQL as bound parameters; the only
text spliced into SQL is column names that were read from the files' own schema.

Time windows are half-open, ``since <= ts < until``; naive datetimes are taken as UTC.
Labels: the latest label per (request_id, row) wins (by label ``ts``, then by segment name, which
sorts by write time, then by position in the segment), so feedback can be re-sent to correct it.

Windows open only the day folders and, among compacted files, only those whose name range overlaps
the window; DuckDB then skips the row groups outside it by their ``ts`` statistics. Superseded
inputs of a compaction and retired days are never listed (``_storage``). A file deleted between
listing and reading (a compaction committed meanwhile) makes the query list again and retry.

``request_rows`` and ``requests`` (the check behind feedback) do not scan: they look in the raw
segments not yet compacted (each read once and cached: segments are immutable), then in the
request-id index, which also keeps the version that answered. ``labelled_ids`` (the overwrite
guard) does the same with the raw label segments and the label index.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import pandas as pd
import pyarrow as pa

from shipyard.core.errors import InvalidArgument, Unavailable
from shipyard.telemetry._storage import FEEDBACK, LABEL_INDEX, PREDICTIONS, SegmentStore
from shipyard.telemetry._summary import summary_dict, summary_sql
from shipyard.telemetry.index import (
    ENTRY_COLUMNS,
    INDEX_SCHEMA,
    Entry,
    RequestIndex,
    entries_of,
)
from shipyard.telemetry.records import BASE_SCHEMA

if TYPE_CHECKING:
    import duckdb

T = TypeVar("T")
_RETRIES = 5
_SETTLED_S = 2.0
"""A folder unchanged for this long has a trustworthy modification time (its clock is coarse)."""


class _DayTail:
    """The raw segments of one day folder read so far, and what they hold of each id, merged."""

    def __init__(self) -> None:
        self.segments: dict[str, dict[str, Entry]] = {}
        self.merged: dict[str, Entry] = {}

    def add(self, name: str, seen: dict[str, Entry]) -> None:
        if name in self.segments:
            return
        self.segments[name] = seen
        for rid, entry in seen.items():
            prev = self.merged.get(rid)
            self.merged[rid] = entry if prev is None else prev.merge(entry)

    def keep(self, names: list[str]) -> None:
        """Forget the segments not in ``names`` (compacted since)."""
        if len(names) >= len(self.segments) and self.segments.keys() <= set(names):
            return
        kept = {n: self.segments[n] for n in names if n in self.segments}
        self.segments, self.merged = {}, {}
        for name, seen in kept.items():
            self.add(name, seen)


_Tail = dict[str, _DayTail]
"""day folder -> its raw segments."""

Routes = str | tuple[str, ...] | None
"""A route (``primary``), a set of routes (``SERVED_ROUTES``), or None for every route."""

_PRED_OPTIONS = (
    "union_by_name=true, hive_partitioning=true, hive_types={'endpoint': 'VARCHAR', 'date': 'DATE'}"
)
_FEEDBACK_OPTIONS = (
    "union_by_name=true, hive_partitioning=true, hive_types={'date': 'DATE'}, "
    "filename=true, file_row_number=true"
)


@dataclass(frozen=True)
class LoggedRequest:
    """What the log knows of one request id: its rows and the version that answered it."""

    rows: int
    model: str | None
    version: int | None


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _us(value: datetime) -> int:
    return int(value.timestamp() * 1_000_000)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _empty_frame(extra: Sequence[tuple[str, pa.DataType]] = ()) -> pd.DataFrame:
    frame: pd.DataFrame = pa.schema([*BASE_SCHEMA, *extra]).empty_table().to_pandas()
    return frame


class LogReader:
    """Read windows, batches, joins and summaries of the prediction log under ``root``."""

    def __init__(self, root: str, storage_options: dict[str, Any] | None = None) -> None:
        self.store = SegmentStore(root, storage_options)
        self._db: duckdb.DuckDBPyConnection | None = None
        """Opened by the first query: a server that never reads its log never loads DuckDB."""
        self._lock = threading.Lock()
        self.index = RequestIndex(self.store)
        self.label_index = RequestIndex(self.store, LABEL_INDEX)
        self._tail_cache: _Tail = {}  # the raw prediction segments' ids
        self._label_tail: _Tail = {}  # the raw label segments' ids
        self._tail_lock = threading.Lock()
        self._final_days: dict[str, float] = {}  # day folders holding one day- file -> mtime

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()

    def _retrying(self, query: Callable[[], T]) -> T:
        """Run ``query`` (which lists files itself), again when a listed file vanished."""
        import duckdb

        for attempt in range(_RETRIES):
            try:
                return query()
            except (duckdb.IOException, FileNotFoundError):
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._db is None:
                import duckdb

                db = duckdb.connect(":memory:")
                db.execute("SET GLOBAL TimeZone = 'UTC'")
                if not self.store.local:
                    db.register_filesystem(self.store.fs)
                self._db = db
            return self._db.cursor()

    def has_endpoint(self, endpoint: str) -> bool:
        """Whether the log holds any prediction of ``endpoint``, at any time."""
        try:
            return self.store.has_endpoint(endpoint)
        except OSError as exc:
            raise Unavailable(f"prediction log {self.store.url} unreachable: {exc}") from exc

    # -- file selection -------------------------------------------------------------------------

    def _files(
        self, endpoint: str | None, since: datetime | None, until: datetime | None
    ) -> list[str]:
        first = since.date() if since is not None else None
        last: date | None = None
        if until is not None:
            last = (until - timedelta(microseconds=1)).date()
        try:
            return self.store.segments(
                PREDICTIONS,
                endpoint=endpoint,
                first_day=first,
                last_day=last,
                min_us=_us(since) if since is not None else None,
                max_us=_us(until) if until is not None else None,
            )
        except OSError as exc:
            raise Unavailable(f"prediction log {self.store.url} unreachable: {exc}") from exc

    def _window(
        self,
        endpoint: str | None,
        since: datetime | None,
        until: datetime | None,
        route: Routes,
    ) -> tuple[list[str], str, dict[str, Any]] | None:
        """(files, SQL of the filtered rows, parameters), or None when no segment matches."""
        since, until = _utc(since), _utc(until)
        if since is not None and until is not None and until <= since:
            raise InvalidArgument(f"empty time window: until ({until}) <= since ({since})")
        files = self._files(endpoint, since, until)
        if not files:
            return None
        params: dict[str, Any] = {"files": files}
        where = []
        if since is not None:
            where.append("ts >= $since")
            params["since"] = since
        if until is not None:
            where.append("ts < $until")
            params["until"] = until
        if isinstance(route, str):
            where.append("route = $route")
            params["route"] = route
        elif route is not None:  # a set of routes (monitoring: online and batch answers)
            where.append("list_contains($routes, route)")
            params["routes"] = list(route)
        sql = f"SELECT * EXCLUDE (date) FROM read_parquet($files, {_PRED_OPTIONS})"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return files, sql, params

    def _select_list(
        self,
        cur: duckdb.DuckDBPyConnection,
        sql: str,
        params: dict[str, Any],
        columns: list[str] | None,
    ) -> tuple[str, list[str]]:
        """A select list of the requested columns present in the window, and the missing ones."""
        if columns is None:
            return "*", []
        present = set(cur.sql(f"SELECT * FROM ({sql}) LIMIT 0", params=params).columns)
        missing = [c for c in columns if c not in present]
        chosen = [c for c in columns if c in present]
        return (", ".join(_quote(c) for c in chosen) or "NULL AS __none"), missing

    # -- predictions ----------------------------------------------------------------------------

    def predictions(
        self,
        endpoint: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        route: Routes = None,
        limit: int | None = None,
        columns: list[str] | None = None,
    ) -> pd.DataFrame:
        """Rows of the window (oldest first; the newest ``limit`` rows, newest first, with limit).

        ``columns`` picks columns; a requested column absent from the window comes back null.
        """
        if limit is not None and limit < 0:
            raise InvalidArgument("limit must be >= 0")
        return self._retrying(
            lambda: self._predictions(endpoint, since, until, route, limit, columns)
        )

    def _predictions(
        self,
        endpoint: str | None,
        since: datetime | None,
        until: datetime | None,
        route: Routes,
        limit: int | None,
        columns: list[str] | None,
    ) -> pd.DataFrame:
        window = self._window(endpoint, since, until, route)
        if window is None:
            frame = _empty_frame()
            return frame if columns is None else frame.reindex(columns=columns)
        _, sql, params = window
        cur = self._cursor()
        try:
            select, missing = self._select_list(cur, sql, params, columns)
            order = 'ts DESC, request_id, "row"' if limit is not None else 'ts, request_id, "row"'
            query = f"SELECT {select} FROM ({sql}) ORDER BY {order}"
            if limit is not None:
                query += " LIMIT $limit"
                params = {**params, "limit": limit}
            frame = cur.execute(query, params).df()
        finally:
            cur.close()
        if columns is not None:
            for name in missing:
                frame[name] = None
            frame = frame[columns]
        return frame

    def batches(
        self,
        endpoint: str | None,
        since: datetime | None,
        until: datetime | None,
        *,
        batch_rows: int = 100_000,
        route: Routes = "primary",
        columns: list[str] | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Stream the window as Arrow record batches of at most ``batch_rows`` rows (unordered)."""
        if batch_rows <= 0:
            raise InvalidArgument("batch_rows must be positive")
        import duckdb

        for attempt in range(_RETRIES):
            started = False
            try:
                for batch in self._batches(endpoint, since, until, batch_rows, route, columns):
                    started = True
                    yield batch
                return
            except (duckdb.IOException, FileNotFoundError):
                if started or attempt == _RETRIES - 1:
                    raise

    def _batches(
        self,
        endpoint: str | None,
        since: datetime | None,
        until: datetime | None,
        batch_rows: int,
        route: Routes,
        columns: list[str] | None,
    ) -> Iterator[pa.RecordBatch]:
        window = self._window(endpoint, since, until, route)
        if window is None:
            return
        _, sql, params = window
        cur = self._cursor()
        try:
            select, missing = self._select_list(cur, sql, params, columns)
            reader = cur.sql(f"SELECT {select} FROM ({sql})", params=params).to_arrow_reader(
                batch_size=batch_rows
            )
            try:
                for batch in reader:
                    if batch.num_rows > batch_rows:  # never expected; keep the promise anyway
                        for start in range(0, batch.num_rows, batch_rows):
                            yield _with_missing(batch.slice(start, batch_rows), columns, missing)
                    elif batch.num_rows:
                        yield _with_missing(batch, columns, missing)
            finally:
                reader.close()
        finally:
            cur.close()

    def count(
        self,
        endpoint: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        route: Routes = None,
    ) -> int:
        """Number of logged rows (predicted rows, not requests) in the window."""

        def run() -> int:
            window = self._window(endpoint, since, until, route)
            if window is None:
                return 0
            _, sql, params = window
            cur = self._cursor()
            try:
                row = cur.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()
            finally:
                cur.close()
            return int(row[0]) if row else 0

        return self._retrying(run)

    # -- labels ---------------------------------------------------------------------------------

    def feedback_files(self) -> list[str]:
        try:
            return self.store.segments(FEEDBACK)
        except OSError as exc:
            raise Unavailable(f"feedback log {self.store.url} unreachable: {exc}") from exc

    def with_labels(
        self,
        endpoint: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        route: Routes = None,
    ) -> pd.DataFrame:
        """Predictions of the window left-joined with the latest label of each (request_id, row).

        Adds ``label`` (the JSON text of the label, null when none arrived) and ``label_ts``.
        """
        return self._retrying(lambda: self._with_labels(endpoint, since, until, route))

    def _with_labels(
        self,
        endpoint: str | None,
        since: datetime | None,
        until: datetime | None,
        route: Routes,
    ) -> pd.DataFrame:
        extra = [("label", pa.string()), ("label_ts", pa.timestamp("us", tz="UTC"))]
        window = self._window(endpoint, since, until, route)
        if window is None:
            return _empty_frame(extra)
        _, sql, params = window
        feedback = self.feedback_files()
        if feedback:
            labels = (
                'SELECT request_id, "row", label, ts AS label_ts FROM ('
                ' SELECT request_id, "row", label, ts, row_number() OVER ('
                '  PARTITION BY request_id, "row"'
                "  ORDER BY ts DESC, parse_filename(filename) DESC, file_row_number DESC) AS rn"
                f" FROM read_parquet($feedback, {_FEEDBACK_OPTIONS})"
                " WHERE request_id IN (SELECT request_id FROM p)"
                ") WHERE rn = 1"
            )
            params = {**params, "feedback": feedback}
        else:
            labels = (
                'SELECT NULL::VARCHAR AS request_id, NULL::INTEGER AS "row", '
                "NULL::VARCHAR AS label, NULL::TIMESTAMPTZ AS label_ts WHERE false"
            )
        query = (
            f"WITH p AS ({sql}), f AS ({labels}) "
            "SELECT p.*, f.label, f.label_ts FROM p LEFT JOIN f "
            'ON p.request_id = f.request_id AND p."row" = f."row" '
            'ORDER BY p.ts, p.request_id, p."row"'
        )
        cur = self._cursor()
        try:
            return cur.execute(query, params).df()
        finally:
            cur.close()

    def request_rows(self, ids: Sequence[str], *, endpoint: str | None = None) -> dict[str, int]:
        """Row count of each known request id (ids never logged are absent from the result).

        Looks in the raw (not yet compacted) segments, then in the request-id index; never scans
        the compacted log. ``endpoint`` narrows the answer.
        """
        return {rid: entry.rows for rid, entry in self._locate(ids, endpoint).items()}

    def requests(
        self, ids: Sequence[str], *, endpoint: str | None = None
    ) -> dict[str, LoggedRequest]:
        """Row count and answering model version of each known request id (shadows excluded).

        Like ``request_rows``, from the raw tail and the index only: both keep the version that
        answered each request.
        """
        out = {}
        for rid, entry in self._locate(ids, endpoint).items():
            served = entry.model is not None and entry.version is not None
            out[rid] = LoggedRequest(
                entry.rows, entry.model if served else None, entry.version if served else None
            )
        return out

    def labelled_ids(self, ids: Sequence[str]) -> set[str]:
        """The request ids among ``ids`` that already have at least one label.

        Looks in the raw feedback segments, then in the label index; never scans the labels.
        """
        wanted = {str(i) for i in ids}
        if not wanted:
            return set()
        try:
            found: set[str] = set()
            for seen in self._tail(FEEDBACK, [self.store.path(FEEDBACK)], self._label_tail):
                found |= wanted & seen.keys()
            if wanted - found:
                found |= set(self.label_index.lookup(wanted - found))
        except OSError as exc:
            raise Unavailable(f"feedback log {self.store.url} unreachable: {exc}") from exc
        return found

    def saw_labels(self, day: str, name: str, table: pa.Table) -> None:
        """Note a label segment just published in ``feedback/{day}`` through this reader's root
        (``FeedbackLog``), so that the next ``labelled_ids`` does not read it back."""
        seen = _labels_by_id(table)
        with self._tail_lock:
            self._label_tail.setdefault(self.store.path(FEEDBACK, day), _DayTail()).add(name, seen)

    def _locate(self, ids: Sequence[str], endpoint: str | None) -> dict[str, Entry]:
        """What the raw tail and the index know of each id (entries of one id combined)."""
        wanted = {str(i) for i in ids}
        if not wanted:
            return {}
        found: dict[str, Entry] = {}

        def add(rid: str, entry: Entry) -> None:
            if endpoint is not None and entry.endpoint != endpoint:
                return
            prev = found.get(rid)
            found[rid] = entry if prev is None else prev.merge(entry)

        try:
            for seen in self._tail(PREDICTIONS, self.store.endpoint_folders(), self._tail_cache):
                for rid in wanted & seen.keys():
                    add(rid, seen[rid])
            missing = wanted - set(found)
            if missing:
                for rid, entries in self.index.lookup(missing).items():
                    for entry in entries:
                        add(rid, entry)
        except OSError as exc:
            raise Unavailable(f"prediction log {self.store.url} unreachable: {exc}") from exc
        return found

    def _tail(self, dataset: str, folders: list[str], cache: _Tail) -> list[dict[str, Entry]]:
        """The entries of every raw segment under ``folders`` (each segment read once: segments are
        immutable), by request id.

        A day folder holding only a ``day-`` file is compacted for good: it is listed again only
        when it changes, e.g. a late segment arrived (on a local log, its modification time, once
        that has settled; object stores have none, so there the next compaction indexes it).
        """
        listed: dict[str, list[str]] = {}
        for folder in folders:
            for _, day in self.store.day_folders(folder):
                stamp = self.store.mtime(day) if self.store.local else 0.0
                if stamp is not None and self._final_days.get(day) == stamp:
                    continue
                names, final = self.store.raw_tail(day)
                if final and stamp is not None and time.time() - stamp > _SETTLED_S:
                    self._final_days[day] = stamp
                listed[day] = names
        columns, by_id = (
            (ENTRY_COLUMNS, _predictions_by_id)
            if dataset == PREDICTIONS
            else (["request_id", "row", "ts"], _labels_by_id)
        )
        with self._tail_lock:
            for day in cache.keys() - listed.keys():
                del cache[day]
            new: list[tuple[str, str]] = []
            for day, names in listed.items():
                tail = cache.setdefault(day, _DayTail())
                tail.keep(names)
                new.extend((day, name) for name in names if name not in tail.segments)
        for day, name in new:
            try:
                table = self.store.read_table(f"{day}/{name}", columns, use_threads=False)
            except FileNotFoundError:  # compacted meanwhile: the index has it now
                continue
            seen = by_id(table)
            with self._tail_lock:
                cache.setdefault(day, _DayTail()).add(name, seen)
        with self._tail_lock:
            return [cache[day].merged for day in listed if day in cache]

    # -- computational metrics ------------------------------------------------------------------

    @overload
    def summary(
        self,
        endpoint: str | None = ...,
        since: datetime | None = ...,
        until: datetime | None = ...,
        *,
        route: str | None = ...,
        by_version: Literal[False] = ...,
    ) -> dict[str, Any]: ...

    @overload
    def summary(
        self,
        endpoint: str | None = ...,
        since: datetime | None = ...,
        until: datetime | None = ...,
        *,
        route: str | None = ...,
        by_version: Literal[True],
    ) -> list[dict[str, Any]]: ...

    def summary(
        self,
        endpoint: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        route: str | None = "primary",
        by_version: bool = False,
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """Requests, rows, errors, error rate, latency percentiles and throughput of a window.

        Latency percentiles are over requests (each request counts once, whatever its rows).
        Throughput is requests per second over ``[since, until)`` when both are given, otherwise
        over the span from the first to the last request (None when that span is empty).
        With ``by_version`` one dict per model version, ordered by version. ``route=None`` counts
        a mirrored shadow call as a request of its own.
        """
        since_utc, until_utc = _utc(since), _utc(until)

        def run() -> list[tuple[Any, ...]]:
            window = self._window(endpoint, since_utc, until_utc, route)
            if window is None:
                return []
            _, sql, params = window
            cur = self._cursor()
            try:
                query = summary_sql(sql, by_version=by_version)
                return [r for r in cur.execute(query, params).fetchall() if r[1]]
            finally:
                cur.close()

        rows = self._retrying(run)

        def shape(row: tuple[Any, ...] | None) -> dict[str, Any]:
            return summary_dict(
                row, endpoint=endpoint, route=route, since=since_utc, until=until_utc,
                by_version=by_version,
            )  # fmt: skip

        return [shape(r) for r in rows] if by_version else shape(rows[0] if rows else None)


def _by_id(entries: pa.Table) -> dict[str, Entry]:
    """Index entries (``INDEX_SCHEMA``) by request id."""
    return {
        str(rid): Entry(str(ep), int(rows), ts, model, version)
        for rid, ep, rows, ts, model, version in zip(
            *(entries[name].to_pylist() for name in INDEX_SCHEMA.names), strict=True
        )
    }


def _predictions_by_id(table: pa.Table) -> dict[str, Entry]:
    return _by_id(entries_of(table))


def _labels_by_id(table: pa.Table) -> dict[str, Entry]:
    """What a label segment (``request_id, row, ts``) holds of each id, as a label-index entry
    would (a plain loop: label segments are small, and Acero's setup would cost more)."""
    out: dict[str, Entry] = {}
    for rid, row, ts in zip(
        *(table[name].to_pylist() for name in ("request_id", "row", "ts")), strict=True
    ):
        entry = Entry("", int(row) + 1, ts, None, None)
        prev = out.get(rid)
        out[str(rid)] = entry if prev is None else prev.merge(entry)
    return out


def _with_missing(
    batch: pa.RecordBatch, columns: list[str] | None, missing: list[str]
) -> pa.RecordBatch:
    """Add the requested columns absent from the window (null), in the requested order."""
    if not missing or columns is None:
        return batch
    present = set(batch.schema.names)
    arrays = [batch.column(n) if n in present else pa.nulls(batch.num_rows) for n in columns]
    return pa.RecordBatch.from_arrays(arrays, names=columns)


__all__ = ["LogReader"]
