"""Monitoring results in the registry database: metric points (time series) and alerts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, and_, func, insert, select, text, update

from shipyard.registry.entities import Alert, MetricPoint
from shipyard.registry.sql.audit import event_time
from shipyard.registry.sql.store import SqlRegistryStore, now_us, to_datetime, to_us
from shipyard.registry.sql.tables import alerts, metric_points

MONITOR_ACTOR = "monitor"


def _alert(row: Row[Any]) -> Alert:
    return Alert(
        id=row.id,
        endpoint=row.endpoint,
        rule=row.rule,
        severity=row.severity,
        status=row.status,
        message=row.message,
        value=row.value,
        threshold=row.threshold,
        opened_at=to_datetime(row.opened_at),
        last_seen_at=to_datetime(row.last_seen_at),
        resolved_at=to_datetime(row.resolved_at) if row.resolved_at is not None else None,
        monitor=row.monitor,
    )


class SqlMonitorStore:
    """Metric points and alerts, in the same database (and transactions) as the registry."""

    def __init__(self, registry: SqlRegistryStore) -> None:
        self.registry = registry

    def add_points(self, points: Sequence[MetricPoint]) -> None:
        if not points:
            return
        with self.registry.write() as conn:
            at = now_us()
            conn.execute(
                insert(metric_points),
                [
                    {
                        "endpoint": p.endpoint,
                        "monitor": p.monitor,
                        "metric": p.metric,
                        "version": p.version,
                        "value": p.value,
                        "window_start": to_us(p.window_start),
                        "window_end": to_us(p.window_end),
                        "created_at": at,
                    }
                    for p in points
                ],
            )

    def points(
        self,
        endpoint: str,
        *,
        metric: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 10_000,
    ) -> list[MetricPoint]:
        """Points of ``endpoint`` (``metric`` is a name or a prefix ending in '.'), oldest first."""
        query = select(metric_points).where(metric_points.c.endpoint == endpoint)
        if metric:
            if metric.endswith("."):
                query = query.where(metric_points.c.metric.startswith(metric, autoescape=True))
            else:
                query = query.where(metric_points.c.metric == metric)
        if since is not None:
            query = query.where(metric_points.c.window_end >= to_us(since))
        if until is not None:
            query = query.where(metric_points.c.window_end <= to_us(until))
        query = query.order_by(metric_points.c.window_end.desc(), metric_points.c.id.desc()).limit(
            limit
        )
        with self.registry.read() as conn:
            rows = conn.execute(query).all()
        return [
            MetricPoint(
                endpoint=r.endpoint,
                metric=r.metric,
                value=r.value,
                window_start=to_datetime(r.window_start),
                window_end=to_datetime(r.window_end),
                version=r.version,
                monitor=r.monitor,
                id=r.id,
            )
            for r in reversed(rows)
        ]

    def series(
        self,
        endpoints: Sequence[str],
        metrics: Sequence[str],
        *,
        last: int = 30,
    ) -> dict[tuple[str, str], list[MetricPoint]]:
        """The newest ``last`` points of each (endpoint, metric) pair, oldest first, in one query:
        what a page draws for many series at once."""
        if not endpoints or not metrics:
            return {}
        # one indexed range read per series (newest first, LIMIT), glued into one statement of bound
        # parameters: a window function over every matching point would sort them all, and building
        # the same statement with SQLAlchemy's expression language costs more than running it
        pairs = [(e, m) for e in dict.fromkeys(endpoints) for m in dict.fromkeys(metrics)]
        columns = "id, endpoint, metric, value, window_start, window_end, version, monitor"
        sql = " UNION ALL ".join(
            f"SELECT * FROM (SELECT {columns} FROM metric_points WHERE endpoint = :e{i} "
            f"AND metric = :m{i} ORDER BY window_end DESC, id DESC LIMIT :last) AS s{i}"
            for i in range(len(pairs))
        )
        params: dict[str, Any] = {"last": last}
        for i, (e, m) in enumerate(pairs):
            params[f"e{i}"], params[f"m{i}"] = e, m
        query = text(sql).bindparams(**params)
        out: dict[tuple[str, str], list[MetricPoint]] = {}
        with self.registry.read() as conn:
            for r in conn.execute(query).all():
                out.setdefault((r.endpoint, r.metric), []).append(
                    MetricPoint(
                        endpoint=r.endpoint,
                        metric=r.metric,
                        value=r.value,
                        window_start=to_datetime(r.window_start),
                        window_end=to_datetime(r.window_end),
                        version=r.version,
                        monitor=r.monitor,
                        id=r.id,
                    )
                )
        for found in out.values():  # a union's order is not promised: oldest first, here
            found.sort(key=lambda p: (p.window_end, p.id or 0))
        return out

    def latest_run_points(self, *, marker: str = "rows") -> list[MetricPoint]:
        """Per endpoint and monitor, every point of its latest run: the points that share the
        ``window_end`` of the newest ``marker`` point (every run records ``rows``)."""
        latest = (
            select(
                metric_points.c.endpoint,
                metric_points.c.monitor,
                func.max(metric_points.c.window_end).label("window_end"),
            )
            .where(metric_points.c.metric == marker)
            .group_by(metric_points.c.endpoint, metric_points.c.monitor)
            .subquery()
        )
        query = select(metric_points).join(
            latest,
            and_(
                metric_points.c.endpoint == latest.c.endpoint,
                metric_points.c.monitor == latest.c.monitor,
                metric_points.c.window_end == latest.c.window_end,
            ),
        )
        with self.registry.read() as conn:
            rows = conn.execute(query.order_by(metric_points.c.id)).all()
        return [
            MetricPoint(
                endpoint=r.endpoint,
                metric=r.metric,
                value=r.value,
                window_start=to_datetime(r.window_start),
                window_end=to_datetime(r.window_end),
                version=r.version,
                monitor=r.monitor,
                id=r.id,
            )
            for r in rows
        ]

    def raise_alert(
        self,
        *,
        endpoint: str,
        monitor: str,
        rule: str,
        severity: str,
        message: str,
        value: float | None,
        threshold: float | None,
    ) -> tuple[Alert, bool]:
        """Open an alert for ``rule``, or refresh the one already open. True when newly opened."""
        with self.registry.write() as conn:
            at = event_time(conn)
            row = conn.execute(
                select(alerts).where(
                    alerts.c.endpoint == endpoint, alerts.c.rule == rule, alerts.c.status == "open"
                )
            ).first()
            if row is not None:
                conn.execute(
                    update(alerts)
                    .where(alerts.c.id == row.id)
                    .values(last_seen_at=at, value=value, severity=severity, message=message)
                )
                fresh = conn.execute(select(alerts).where(alerts.c.id == row.id)).one()
                return _alert(fresh), False
            alert_id = conn.execute(
                insert(alerts)
                .values(
                    endpoint=endpoint,
                    monitor=monitor,
                    rule=rule,
                    severity=severity,
                    status="open",
                    message=message,
                    value=value,
                    threshold=threshold,
                    opened_at=at,
                    last_seen_at=at,
                )
                .returning(alerts.c.id)
            ).scalar_one()
            self.registry.audit(
                conn,
                MONITOR_ACTOR,
                "alert.open",
                endpoint,
                {"rule": rule, "severity": severity, "value": value, "threshold": threshold},
                at,
            )
            return _alert(conn.execute(select(alerts).where(alerts.c.id == alert_id)).one()), True

    def resolve_alert(self, *, endpoint: str, rule: str) -> Alert | None:
        """Resolve the open alert for ``rule`` if there is one."""
        with self.registry.write() as conn:
            at = event_time(conn)
            row = conn.execute(
                select(alerts).where(
                    alerts.c.endpoint == endpoint, alerts.c.rule == rule, alerts.c.status == "open"
                )
            ).first()
            if row is None:
                return None
            conn.execute(
                update(alerts)
                .where(alerts.c.id == row.id)
                .values(status="resolved", resolved_at=at)
            )
            self.registry.audit(conn, MONITOR_ACTOR, "alert.resolve", endpoint, {"rule": rule}, at)
            return _alert(conn.execute(select(alerts).where(alerts.c.id == row.id)).one())

    def alerts(
        self, *, endpoint: str | None = None, status: str | None = None, limit: int = 200
    ) -> list[Alert]:
        query = select(alerts).order_by(alerts.c.id.desc()).limit(limit)
        if endpoint:
            query = query.where(alerts.c.endpoint == endpoint)
        if status:
            query = query.where(alerts.c.status == status)
        with self.registry.read() as conn:
            return [_alert(r) for r in conn.execute(query).all()]
