"""Alert lifecycle against a real store, delivered to a real local webhook receiver."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from shipyard.core.errors import InvalidArgument, Unavailable
from shipyard.monitoring.alerts import AlertManager, Threshold, evaluate
from shipyard.monitoring.notifiers.base import Notification, create_notifier
from shipyard.monitoring.notifiers.webhook import verify
from shipyard.registry.entities import Alert
from shipyard.registry.sql.monitoring import SqlMonitorStore
from shipyard.registry.sql.store import SqlRegistryStore

SECRET = "s3cret"


class Receiver:
    def __init__(self, fail_first: int = 0, *, hold: bool = False) -> None:
        self.received: list[dict[str, object]] = []
        self.raw: list[tuple[bytes, str]] = []
        self.bad_signatures = 0
        self.fail_first = fail_first
        self.arrived = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.arrived.set()
                receiver.release.wait(60)  # a webhook that hangs until the test lets it answer
                if receiver.fail_first > 0:
                    receiver.fail_first -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                header = self.headers.get("X-Shipyard-Signature", "")
                if not verify(SECRET, body, header):
                    receiver.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                receiver.received.append(json.loads(body))
                receiver.raw.append((body, header))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def monitor_store(store: SqlRegistryStore) -> SqlMonitorStore:
    return SqlMonitorStore(store)


def test_evaluate_levels_and_directions() -> None:
    thresholds = [
        Threshold("latency.p99_ms", warning=500, critical=1000),
        Threshold("performance.accuracy", warning=0.9, critical=0.8, direction="below"),
    ]
    breaches, clear = evaluate(thresholds, {"latency.p99_ms": 1200, "performance.accuracy": 0.85})
    assert [(b.threshold.metric, b.severity) for b in breaches] == [
        ("latency.p99_ms", "critical"),
        ("performance.accuracy", "warning"),
    ]
    breaches, clear = evaluate(thresholds, {"latency.p99_ms": 20})
    assert breaches == [] and [t.metric for t in clear] == ["latency.p99_ms"]


def test_alert_opens_dedupes_escalates_and_resolves(
    monitor_store: SqlMonitorStore, receiver: Receiver
) -> None:
    hook = create_notifier("webhook", {"url": receiver.url, "secret": SECRET, "backoff": 0.01})
    manager = AlertManager(monitor_store, [hook, create_notifier("log", {})])
    t = [Threshold("latency.p99_ms", warning=500, critical=1000)]
    assert len(manager.apply("churn", t, {"latency.p99_ms": 600})) == 1
    assert manager.apply("churn", t, {"latency.p99_ms": 700}) == []  # same condition: deduplicated
    assert len(manager.apply("churn", t, {"latency.p99_ms": 1500})) == 1  # escalated to critical
    assert manager.apply("churn", t, {}) == []  # not measured: unchanged
    open_alerts = monitor_store.alerts(endpoint="churn", status="open")
    assert (
        len(open_alerts) == 1
        and open_alerts[0].severity == "critical"
        and open_alerts[0].value == 1500
    )
    assert len(manager.apply("churn", t, {"latency.p99_ms": 100})) == 1  # resolved
    assert monitor_store.alerts(endpoint="churn", status="open") == []
    [resolved] = monitor_store.alerts(endpoint="churn")
    assert resolved.status == "resolved" and resolved.resolved_at is not None
    assert receiver.bad_signatures == 0
    events = [(r["event"], r["alert"]["severity"]) for r in receiver.received]  # type: ignore[index]
    assert events == [("opened", "warning"), ("opened", "critical"), ("resolved", "critical")]
    assert str(receiver.received[0]["text"]).startswith("[WARNING] churn: latency.p99_ms = 600")
    # a new episode is a new alert
    manager.apply("churn", t, {"latency.p99_ms": 900})
    assert len(monitor_store.alerts(endpoint="churn")) == 2


def test_webhook_retries_then_delivers() -> None:
    r = Receiver(fail_first=2)
    try:
        hook = create_notifier(
            "webhook", {"url": r.url, "secret": SECRET, "backoff": 0.01, "retries": 3}
        )
        now = dt.datetime.now(dt.UTC)
        alert = Alert(1, "e", "r", "warning", "open", "m", 1.0, 0.5, now, now)
        hook.notify(Notification(alert, "opened"))
        assert len(r.received) == 1
        failing = create_notifier(
            "webhook", {"url": r.url + "x", "secret": "wrong", "retries": 1, "backoff": 0.01}
        )
        with pytest.raises(Unavailable, match="failed after 1 attempt"):
            failing.notify(Notification(alert, "opened"))  # 401: not retried, reported
    finally:
        r.close()


def test_unknown_notifier_kind() -> None:
    with pytest.raises(InvalidArgument, match="unknown notifier kind 'pager'"):
        create_notifier("pager", {})
    with pytest.raises(InvalidArgument, match="needs 'url'"):
        create_notifier("webhook", {})


def test_background_delivery_never_waits_for_a_hanging_webhook(
    monitor_store: SqlMonitorStore,
) -> None:
    receiver = Receiver(hold=True)
    hook = create_notifier("webhook", {"url": receiver.url, "secret": SECRET, "timeout": 60})
    manager = AlertManager(monitor_store, [hook])
    manager.deliver_in_background()  # as in the controller
    try:
        t = [Threshold("latency.p99_ms", warning=500)]
        assert len(manager.apply("churn", t, {"latency.p99_ms": 600})) == 1  # returned first
        assert receiver.arrived.wait(30)
        assert not manager.flush(timeout=0)  # the webhook still hangs
        assert monitor_store.alerts(endpoint="churn", status="open") != []  # stored regardless
        receiver.release.set()
        assert manager.flush(timeout=30)
        assert len(receiver.received) == 1
    finally:
        receiver.release.set()
        manager.close(timeout=30)
        receiver.close()
