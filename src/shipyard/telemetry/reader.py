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

``request_rows`` (the check behind feedback) does not scan: it looks in the raw segments not yet
compacted (each read once and cached: segments are immutable), then in the request-id index.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import pandas as pd
import pyarrow as pa

from shipyard.core.errors import InvalidArgument, Unavailable
from shipyard.telemetry._storage import FEEDBACK, PREDICTIONS, SegmentStore, is_raw
from shipyard.telemetry._summary import summary_dict, summary_sql
from shipyard.telemetry.index import RequestIndex
from shipyard.telemetry.records import BASE_SCHEMA

if TYPE_CHECKING:
    import duckdb

T = TypeVar("T")
_RETRIES = 5

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
        self._tail: dict[str, tuple[str, dict[str, int]]] = {}  # raw path -> (endpoint, rows)
        self._tail_lock = threading.Lock()
        self._final_days: set[str] = set()  # day folders holding one day- file: no raw tail

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

    def request_rows(
        self, ids: Sequence[str], *, endpoint: str | None = None, since: datetime | None = None
    ) -> dict[str, int]:
        """Row count of each known request id (ids never logged are absent from the result).

        Looks in the raw (not yet compacted) segments, then in the request-id index; never scans
        the compacted log. ``endpoint`` and ``since`` narrow the answer.
        """
        return {rid: rows for rid, (_, rows, _) in self._locate(ids, endpoint, since).items()}

    def _locate(
        self, ids: Sequence[str], endpoint: str | None, since: datetime | None
    ) -> dict[str, tuple[str, int, datetime | None]]:
        """(endpoint, rows, first ts or None when still in the raw tail) of each known id."""
        wanted = {str(i) for i in ids}
        if not wanted:
            return {}
        since = _utc(since)
        found: dict[str, tuple[str, int, datetime | None]] = {}
        try:
            for rid, (ep, rows) in self._tail_rows(wanted).items():
                if endpoint is None or ep == endpoint:
                    prev = found.get(rid)
                    found[rid] = (ep, max(prev[1] if prev else 0, rows), None)
            missing = wanted - set(found)
            if missing:
                for rid, entries in self.index.lookup(missing).items():
                    for ep, rows, ts in entries:
                        if endpoint is not None and ep != endpoint:
                            continue
                        if since is not None and ts is not None and ts < since:
                            continue
                        prev = found.get(rid)
                        found[rid] = (ep, max(prev[1] if prev else 0, rows), ts)
        except OSError as exc:
            raise Unavailable(f"prediction log {self.store.url} unreachable: {exc}") from exc
        return found

    def _tail_rows(self, wanted: set[str]) -> dict[str, tuple[str, int]]:
        """Ids of ``wanted`` found in the raw segments, each raw segment read once per reader."""
        listed: dict[str, str] = {}
        for folder in self.store.endpoint_folders():
            endpoint = folder.rsplit("/", 1)[-1]
            for _, day in self.store.day_folders(folder):
                if day in self._final_days:
                    continue
                names = self.store.live_segments(day)
                if len(names) == 1 and names[0].startswith("day-"):
                    # compacted for good: a late raw segment there is indexed by the next run
                    self._final_days.add(day)
                for name in names:
                    if is_raw(name):
                        listed[f"{day}/{name}"] = endpoint
        with self._tail_lock:
            for gone in set(self._tail) - set(listed):
                del self._tail[gone]
            new = [p for p in listed if p not in self._tail]
        for path in new:
            try:
                table = self.store.read_table(path, ["endpoint", "request_id", "row"])
            except FileNotFoundError:  # compacted meanwhile: the index has it now
                continue
            rows: dict[str, int] = {}
            endpoint_name = ""
            agg = table.group_by(["endpoint", "request_id"]).aggregate([("row", "max")])
            for ep, rid, top in zip(
                agg["endpoint"].to_pylist(),
                agg["request_id"].to_pylist(),
                agg["row_max"].to_pylist(),
                strict=True,
            ):
                endpoint_name = str(ep)
                rows[str(rid)] = max(rows.get(str(rid), 0), int(top) + 1)
            with self._tail_lock:
                self._tail[path] = (endpoint_name, rows)
        out: dict[str, tuple[str, int]] = {}
        with self._tail_lock:
            segments = list(self._tail.values())
        for ep, rows in segments:
            for rid in wanted & rows.keys():
                prev = out.get(rid)
                out[rid] = (ep, max(rows[rid], prev[1] if prev else 0))
        return out

    def requests(
        self, ids: Sequence[str], *, endpoint: str | None = None, since: datetime | None = None
    ) -> dict[str, LoggedRequest]:
        """Row count and answering model version of each known request id (shadows excluded).

        Rows come from the raw tail and the index (no scan); the version is then read only from
        the request's endpoint, from the day it was indexed on (or the whole endpoint for ids still
        in the raw tail).
        """
        located = self._locate(ids, endpoint, since)
        by_endpoint: dict[str, list[str]] = {}
        for rid, (ep, _, _) in located.items():
            by_endpoint.setdefault(ep, []).append(rid)
        versions: dict[str, tuple[str, int]] = {}
        for ep, rids in by_endpoint.items():
            stamps = [located[r][2] for r in rids]
            first = None if any(t is None for t in stamps) else min(t for t in stamps if t)
            start = (
                None if first is None else first.replace(hour=0, minute=0, second=0, microsecond=0)
            )
            window = self._window(ep, start, None, None)
            if window is None:
                continue
            _, sql, params = window
            query = (
                "SELECT request_id, max(model) FILTER (WHERE route <> 'shadow'), "
                "max(version) FILTER (WHERE route <> 'shadow') "
                f"FROM ({sql}) "
                "WHERE request_id IN (SELECT unnest($ids::VARCHAR[])) GROUP BY request_id"
            )
            cur = self._cursor()
            try:
                rows = cur.execute(query, {**params, "ids": sorted(rids)}).fetchall()
            finally:
                cur.close()
            for rid, model, version in rows:
                if model is not None and version is not None:
                    versions[str(rid)] = (str(model), int(version))
        return {
            rid: LoggedRequest(rows, *(versions.get(rid) or (None, None)))
            for rid, (_, rows, _) in located.items()
        }

    def labelled_ids(self, ids: Sequence[str]) -> set[str]:
        """The request ids among ``ids`` that already have at least one label."""
        wanted = sorted({str(i) for i in ids})
        feedback = self.feedback_files()
        if not wanted or not feedback:
            return set()
        query = (
            f"SELECT DISTINCT request_id FROM read_parquet($feedback, {_FEEDBACK_OPTIONS}) "
            "WHERE request_id IN (SELECT unnest($ids::VARCHAR[]))"
        )
        cur = self._cursor()
        try:
            found = cur.execute(query, {"feedback": feedback, "ids": wanted}).fetchall()
        finally:
            cur.close()
        return {str(rid) for (rid,) in found}

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
