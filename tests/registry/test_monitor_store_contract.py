"""The MonitorStore contract (metric points and alerts), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from shipyard.registry.entities import MetricPoint
from shipyard.registry.sql.monitoring import SqlMonitorStore
from shipyard.registry.sql.store import SqlRegistryStore
from shipyard.registry.store import MonitorStore

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def monitors(store: SqlRegistryStore) -> MonitorStore:
    return SqlMonitorStore(store)


def point(
    metric: str, value: float, hour: int, endpoint: str = "web", monitor: str = "default"
) -> MetricPoint:
    return MetricPoint(
        endpoint=endpoint,
        metric=metric,
        value=value,
        window_start=T0 + hour * HOUR,
        window_end=T0 + (hour + 1) * HOUR,
        version=1,
        monitor=monitor,
    )


def test_points_filter_by_metric_prefix_and_window(monitors: MonitorStore) -> None:
    monitors.add_points([point("drift.dataset", 0.1, h) for h in range(3)])
    monitors.add_points([point("drift.share", 0.5, 0), point("errors.rate", 0.0, 0)])
    monitors.add_points([])
    assert [p.value for p in monitors.points("web", metric="drift.dataset")] == [0.1] * 3
    assert {p.metric for p in monitors.points("web", metric="drift.")} == {
        "drift.dataset",
        "drift.share",
    }
    window = monitors.points(
        "web", metric="drift.dataset", since=T0 + 2 * HOUR, until=T0 + 2 * HOUR
    )
    assert [p.window_end for p in window] == [T0 + 2 * HOUR]
    latest = monitors.points("web", metric="drift.dataset", limit=1)
    assert [p.window_end for p in latest] == [T0 + 3 * HOUR]  # the newest, oldest first
    assert monitors.points("other") == []


def test_latest_run_points_are_each_endpoint_and_monitors_newest_run(
    monitors: MonitorStore,
) -> None:
    assert monitors.latest_run_points() == []
    for hour, drift in ((0, 0.0), (1, 1.0)):
        monitors.add_points(
            [
                point("rows", 100, hour),
                point("drift.dataset", drift, hour),
                point("rows", 5, hour, endpoint="api"),
                point("feature.a.b.ks", 0.2, hour, "api"),
            ]
        )
    monitors.add_points([point("rows", 7, 0, monitor="hourly")])
    monitors.add_points([point("errors.rate", 0.5, 5)])  # no "rows": not a run
    latest = {(p.endpoint, p.monitor, p.metric): p for p in monitors.latest_run_points()}
    assert set(latest) == {
        ("web", "default", "rows"),
        ("web", "default", "drift.dataset"),
        ("api", "default", "rows"),
        ("api", "default", "feature.a.b.ks"),
        ("web", "hourly", "rows"),
    }
    assert latest[("web", "default", "drift.dataset")].value == 1.0
    assert latest[("web", "default", "rows")].window_end == T0 + 2 * HOUR


def test_alerts_open_once_refresh_and_resolve(monitors: MonitorStore) -> None:
    alert, opened = monitors.raise_alert(
        endpoint="web",
        monitor="m",
        rule="r",
        severity="warning",
        message="high",
        value=1.0,
        threshold=0.5,
    )
    again, reopened = monitors.raise_alert(
        endpoint="web",
        monitor="m",
        rule="r",
        severity="critical",
        message="higher",
        value=2.0,
        threshold=0.5,
    )
    assert opened and not reopened and again.id == alert.id
    assert (again.severity, again.value, again.status) == ("critical", 2.0, "open")
    assert [a.id for a in monitors.alerts(endpoint="web", status="open")] == [alert.id]
    resolved = monitors.resolve_alert(endpoint="web", rule="r")
    assert resolved is not None and resolved.status == "resolved" and resolved.resolved_at
    assert monitors.resolve_alert(endpoint="web", rule="r") is None
    assert monitors.alerts(status="open") == []


def test_series_reads_the_newest_points_of_many_series_at_once(monitors: MonitorStore) -> None:
    for endpoint in ("web", "api"):
        monitors.add_points([point("requests", float(h), h, endpoint) for h in range(10)])
        monitors.add_points([point("errors.rate", h / 100, h, endpoint) for h in range(3)])
    monitors.add_points([point("requests", 99.0, 0, "other")])
    found = monitors.series(["web", "api", "web"], ["requests", "errors.rate", "nothing"], last=4)
    assert set(found) == {(e, m) for e in ("web", "api") for m in ("requests", "errors.rate")}
    assert [p.value for p in found[("web", "requests")]] == [6.0, 7.0, 8.0, 9.0]  # oldest first
    assert [p.value for p in found[("api", "errors.rate")]] == [0.0, 0.01, 0.02]
    assert monitors.series([], ["requests"]) == {} and monitors.series(["web"], []) == {}
    assert [
        p.value for p in monitors.series(["web"], ["requests"], last=1)[("web", "requests")]
    ] == [9.0]
