"""Computational metrics of a log window: the SQL and the shape of its result.

Latency is per request (a request's ``latency_ms`` is repeated on each of its rows, so rows are
first collapsed to one per request), never per row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


def summary_sql(window_sql: str, *, by_version: bool) -> str:
    """Aggregate the rows of ``window_sql``: one result row, or one per version."""
    per_request = (
        "SELECT request_id, route, version, any_value(status) AS status, "
        "any_value(latency_ms)::DOUBLE AS latency_ms, count(*) AS n, min(ts) AS ts "
        f"FROM ({window_sql}) GROUP BY request_id, route, version"
    )
    query = (
        f"WITH r AS ({per_request}) "
        f"SELECT {'version' if by_version else 'NULL'}, count(*), sum(n), "
        "count(*) FILTER (WHERE status = 'error'), "
        "quantile_cont(latency_ms, 0.5), quantile_cont(latency_ms, 0.95), "
        "quantile_cont(latency_ms, 0.99), avg(latency_ms), min(ts), max(ts) FROM r"
    )
    return query + (" GROUP BY version ORDER BY version" if by_version else "")


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def summary_dict(
    row: tuple[Any, ...] | None,
    *,
    endpoint: str | None,
    route: str | None,
    since: datetime | None,
    until: datetime | None,
    by_version: bool,
) -> dict[str, Any]:
    """One result row of ``summary_sql`` (None for an empty window) as the summary dict."""
    requests = int(row[1]) if row else 0
    errors = int(row[3]) if row else 0
    first, last = (row[8], row[9]) if row else (None, None)
    start, end = since or first, until or last
    seconds = (end - start).total_seconds() if start is not None and end is not None else 0.0
    out: dict[str, Any] = {
        "endpoint": endpoint,
        "route": route,
        "since": since,
        "until": until,
        "requests": requests,
        "rows": int(row[2]) if row else 0,
        "errors": errors,
        "error_rate": errors / requests if requests else None,
        "latency_p50_ms": _float(row[4]) if row else None,
        "latency_p95_ms": _float(row[5]) if row else None,
        "latency_p99_ms": _float(row[6]) if row else None,
        "latency_mean_ms": _float(row[7]) if row else None,
        "throughput_rps": requests / seconds if seconds > 0 else None,
        "first_ts": first,
        "last_ts": last,
    }
    if by_version and row is not None:
        out["version"] = int(row[0])
    return out
