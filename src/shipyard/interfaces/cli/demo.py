"""``shipyard demo``: the whole life of a model on the embedded default, end to end.

Train a first churn model, register it and make it the champion, serve it on 127.0.0.1 with the
controller, send traffic and ground truth; then change the world (usage moves up and heavy users now
leave). The monitor flags the drift; after 4 drifted monitor runs the policy retrains on the labelled
traffic since the first drifted run, i.e. from after the change only; the challenger beats the champion on held-out labels by at least
0.10 accuracy with a 95 % bootstrap interval of the improvement above zero; a canary rollout with gates
promotes it. Finally a deliberately broken challenger is rolled back by its success-rate gate.

Every stage waits for something it can observe (the server's health route, monitor points, audit
events, rollout records), polling with a generous deadline, and every number comes from fixed seeds.
The command exits 0 only if every stage happened as described; the audit log keeps the evidence.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from shipyard.core.errors import ShipyardError
from shipyard.interfaces.cli.demo_traffic import Traffic
from shipyard.interfaces.cli.output import console, print_table, styled

if TYPE_CHECKING:
    from shipyard.app import Services
    from shipyard.lifecycle.project import Project
    from shipyard.lifecycle.service import RolloutStatus
    from shipyard.registry.entities import AuditEvent, ModelVersion

T = TypeVar("T")
ENDPOINT = "churn"
WORLD_CHANGE = "demo.world_change"
"""Audit action the demo records when it switches its traffic to the changed world."""
MIN_GAIN = 0.10
BASELINE_ROWS = 200
"""Rows a drift-free monitor window must hold before the world changes (one request: a starved
machine may answer only one request per monitor window)."""
UI_PORT = 8001
"""``shipyard ui``'s default port, for the console URL the demo ends with."""
DEADLINE_S = 600.0
"""Longest wait for any one stage: generous, since a shared machine may be slow."""
PROJECT = """\
models:
  churn:
    description: Will this customer leave within a month? (synthetic demo data)
monitors:
  # every second, the last 3 s of traffic against the champion's reference profile
  churn: {window: 3s, every: 1s}
retraining:
  # on drift, only labels from after the end of the first drifted monitor window: the change came
  # before it, so the challenger learns the new world only (window: an upper bound)
  churn: {entrypoint: "shipyard.examples.churn:train", window: 1h, after_drift: true, timeout: 10m, holdout: 0.5, min_rows: 300}
evaluation:
  # a clear win: at least +0.10 accuracy, and its 95 % bootstrap interval above zero
  # (both are the same kind of pipeline: a shared machine's timing noise is not the story)
  churn: {metric: accuracy, min_absolute_change: 0.1, significant: true, max_latency_ratio: 10}
rollout:
  churn:
    strategy: canary
    steps: [50, 100]
    interval: 2s
    # errors and accuracy are the story; a shared laptop's latency noise is not
    gates: {min_requests: 5, max_prediction_psi: 100, max_p99_ms: 10000, min_latency_increase_ms: 5000}
policies:
  - name: retrain-on-drift
    endpoint: churn
    trigger: {kind: drift, windows: 4}
    actions: [alert, retrain, evaluate, rollout]
    cooldown: 1h
"""


@dataclass
class Watch:
    """What can end the demo early: the server exiting, the traffic failing, a failed job."""

    services: Services
    server: subprocess.Popen[bytes] | None = None
    server_log: Path | None = None
    traffic: Traffic | None = None

    def check(self) -> None:
        if self.server is not None and self.server.poll() is not None:
            log = self.server_log
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise ShipyardError(f"the server exited with {self.server.returncode}: {tail}")
        if self.traffic is not None:
            self.traffic.check()
        for action in ("retrain.failed", "policy.failed"):
            for event in self.services.registry.audit(action=action, limit=1):
                details = event.details
                raise ShipyardError(
                    f"{action}: {details.get('error')} {details.get('stderr_tail', '')}".strip()
                )

    def until(self, what: str, check: Callable[[], T | None], every: float = 0.2) -> T:
        """Poll ``check`` until it returns something truthy; fail after ``DEADLINE_S``."""
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            self.check()
            value = check()
            if value:
                return value
            time.sleep(every)
        raise ShipyardError(f"demo stage did not happen within {DEADLINE_S:.0f} s: {what}")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _event(services: Services, action: str, target: str) -> AuditEvent | None:
    found = services.registry.audit(action=action, target=target, limit=1)
    return found[0] if found else None


def _finished(services: Services, rollout_id: int) -> RolloutStatus | None:
    from shipyard.registry.sql.deployments import ACTIVE

    status = services.rollouts.status(ENDPOINT)
    if status.rollout.id != rollout_id or status.rollout.status in ACTIVE:
        return None
    return status


def _window_rows(services: Services, drift: float, since: dt.datetime) -> int | None:
    """Rows of the latest monitor window ending after ``since`` whose verdict was ``drift``."""
    store = services.monitoring.store
    verdicts = {
        p.window_end: p.value for p in store.points(ENDPOINT, metric="drift.dataset", since=since)
    }
    rows = [
        int(p.value)
        for p in store.points(ENDPOINT, metric="rows", since=since)
        if verdicts.get(p.window_end) == drift
    ]
    return rows[-1] if rows else None


def run_demo(home: Path | None) -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError as exc:
        from shipyard.core.errors import MissingDependency

        raise MissingDependency("scikit-learn", "sklearn") from exc
    from shipyard.app import build
    from shipyard.core.config import Settings

    started_all = time.perf_counter()
    workdir = home or Path(tempfile.mkdtemp(prefix="shipyard-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    project = workdir / "shipyard.yaml"
    project.write_text(PROJECT)
    env = {
        **os.environ,
        "SHIPYARD_HOME": str(workdir),
        "SHIPYARD_PROJECT": str(project),
        "SHIPYARD_LOG_FLUSH_INTERVAL": "0.3",
    }
    services = build(Settings(home=workdir, project=project, log_flush_interval=0.3))
    watch = Watch(services)
    timings: list[tuple[str, float, str]] = []

    def stage(title: str, fn: Callable[[], T], detail: Callable[[T], str]) -> T:
        start = time.perf_counter()
        with console.status(title):
            result = fn()
        took = time.perf_counter() - start
        timings.append((title, took, detail(result)))
        console.print(
            styled(("✓", "green"), f" {title} ", (f"({took:.1f} s)", "dim"), f"  {detail(result)}")
        )
        return result

    console.rule(styled(("Shipyard demo: the life of a model", "bold")))
    console.print(f"home: {workdir}")
    try:
        v1 = stage("train and register the first model", lambda: _first_model(services), _accuracy)
        stage(
            "make it the champion",
            lambda: services.registry.set_alias(
                ENDPOINT, "champion", v1.version, reason="first model"
            ),
            lambda e: f"{ENDPOINT}@champion -> {e.to_version}",
        )
        from shipyard.lifecycle.apply import apply as reconcile
        from shipyard.lifecycle.project import load

        config = load(project)
        stage(
            "apply the project file (monitors, retraining, policy, canary)",
            lambda: reconcile(config, services.registry, services.deployments),
            lambda c: f"{project.name}: {len(c)} change(s)",
        )
        url = stage("serve it with the controller", lambda: _serve(watch, env), lambda u: u)
        traffic = watch.traffic = Traffic(url, ENDPOINT).start()
        started = dt.datetime.now(dt.UTC)
        stage(
            "traffic and ground truth; the monitor sees no drift",
            lambda: watch.until(
                f"a drift-free monitor window of {BASELINE_ROWS}+ rows",
                lambda: (n := _window_rows(services, 0.0, started)) and n >= BASELINE_ROWS and n,
            ),
            lambda n: f"{traffic.sent} requests, {traffic.labelled} labels; window of {n} rows",
        )

        def change() -> tuple[dt.datetime, int]:
            traffic.change_world()
            changed_at = watch.until(
                "the first request of the new world", lambda: traffic.changed_at
            )
            services.registry.record(
                WORLD_CHANGE,
                ENDPOINT,
                {"at": changed_at.isoformat(), "what": "usage up, heavy users now leave"},
                actor="demo",
            )
            rows = watch.until(
                "the monitor flags drift",
                lambda: _window_rows(services, 1.0, changed_at),
            )
            return changed_at, rows

        changed_at, _ = stage(
            "the world changes: drift detected",
            change,
            lambda r: f"drift in a window of {r[1]} rows",
        )
        v2 = stage(
            "the policy fires and retrains on post-change labels",
            lambda: _retrained(watch, v1, changed_at),
            lambda v: _lineage(services, v),
        )
        stage(
            "champion vs challenger on held-out labels",
            lambda: _judged(watch, v2),
            _verdict,
        )
        stage(
            "canary rollout with gates promotes it",
            lambda: _promoted(watch, v2),
            lambda s: " -> ".join(e.kind for e in s.events),
        )
        stage(
            "a deliberately bad challenger is rolled back by its gates",
            lambda: _rolled_back(watch, config, v2),
            lambda s: str(s.events[-1].details.get("reason", s.rollout.status)),
        )
        traffic.halt()
        report_path = stage("write the monitoring report", lambda: _report(services), str)
    finally:
        if watch.traffic is not None:
            watch.traffic.halt()
        _stop(watch.server)
        services.close()
    total = time.perf_counter() - started_all
    console.print()
    print_table(
        "what happened", ["stage", "seconds", "result"], [(t, f"{s:.1f}", d) for t, s, d in timings]
    )
    console.print(
        styled(
            (f"done in {total:.0f} s", "bold"),
            f"; {traffic.sent} requests of {traffic.rows} rows, "
            f"answered by version: {json.dumps(traffic.versions)}",
        )
    )
    console.print(f"report: {report_path}", markup=False)
    console.print(
        f"audit log: shipyard --home {workdir} audit   |   "
        f"serve again: shipyard --home {workdir} serve {ENDPOINT}@champion (then /metrics, /docs)",
        markup=False,
    )
    console.print(
        f"console: shipyard --home {workdir} ui, then open "
        f"http://127.0.0.1:{UI_PORT}/ui/endpoints/{ENDPOINT}/story (the story of {ENDPOINT})",
        markup=False,
        soft_wrap=True,  # one line: a terminal shows the URL whole, to click
    )


# -- stages ---------------------------------------------------------------------------------------


def _first_model(services: Services) -> ModelVersion:
    from shipyard.examples.churn import build as build_model
    from shipyard.examples.churn import generate

    X, y = generate(3000, 1)
    model = build_model().fit(X.iloc[:2000], y[:2000])
    return services.registry.log_model(
        model,
        name=ENDPOINT,
        X_sample=X.iloc[2000:],
        y_sample=y[2000:],
        metrics={"accuracy": float(model.score(X.iloc[2000:], y[2000:]))},
        dataset_name="synthetic churn, month 1",
        description="first churn model",
    )


def _accuracy(v: ModelVersion) -> str:
    return f"{v.ref}  accuracy {v.metrics['accuracy']:.3f}"


def _serve(watch: Watch, env: dict[str, str]) -> str:
    import httpx

    port = _port()
    url = f"http://127.0.0.1:{port}"
    watch.server_log = watch.services.settings.home / "server.log"
    with watch.server_log.open("wb") as log:  # a file, not a pipe nobody drains
        watch.server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "shipyard.interfaces.cli.main",
                "serve",
                f"{ENDPOINT}@champion",
                "--port",
                str(port),
                "--poll-interval",
                "0.3",
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
            preexec_fn=_die_with_parent,
        )

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    watch.until("the server becomes ready", ready)
    return url


def _retrained(watch: Watch, v1: ModelVersion, changed_at: dt.datetime) -> ModelVersion:
    services = watch.services
    v2 = watch.until(
        "the policy retrains a challenger",
        lambda: next(
            (v for v in services.registry.list_versions(ENDPOINT) if v.version > v1.version), None
        ),
    )
    fired = _event(services, "policy.fire", ENDPOINT)
    if fired is None or fired.details["why"].get("trigger") != "drift":
        raise ShipyardError(f"{v2.ref} was not retrained on drift: {fired}")
    since = dt.datetime.fromisoformat(services.registry.manifest(v2).lineage.extra["window"][0])
    if since < changed_at:
        raise ShipyardError(
            f"{v2.ref} was trained on labels from before the change ({since} < {changed_at})"
        )
    return v2


def _lineage(services: Services, v: ModelVersion) -> str:
    extra = services.registry.manifest(v).lineage.extra
    return f"{v.ref} on {extra['training_rows']} rows, all after the change (trigger: drift)"


def _judged(watch: Watch, v2: ModelVersion) -> dict[str, Any]:
    event = watch.until(
        "the challenger is evaluated", lambda: _event(watch.services, "evaluation", v2.ref)
    )
    details = dict(event.details)
    if details["verdict"] != "challenger":
        raise ShipyardError(
            f"the challenger did not beat the champion: {'; '.join(details['reasons'])}"
        )
    if not (details["improvement"] >= MIN_GAIN and details["improvement_low"] > 0):
        raise ShipyardError(f"the challenger's win is not clear: {_verdict(details)}")
    return details


def _verdict(d: dict[str, Any]) -> str:
    m = d["metric"]
    return (
        f"{m} {d['challenger']['metrics'][m]:.3f} vs {d['champion']['metrics'][m]:.3f} "
        f"on {d['rows']} rows: {d['improvement']:+.3f} "
        f"(95 % interval {d['improvement_low']:+.3f} to {d['improvement_high']:+.3f})"
    )


def _promoted(watch: Watch, v2: ModelVersion) -> RolloutStatus:
    services = watch.services
    rollout_id = watch.until(
        "the policy starts a canary rollout", lambda: _latest_rollout(services)
    )  # the first rollout of this home
    status = watch.until("the canary rollout finishes", lambda: _finished(services, rollout_id))
    champion = services.registry.get_alias(ENDPOINT, "champion").version
    if status.rollout.status != "succeeded" or champion != v2.version:
        reason = status.events[-1].details.get("reason", "") if status.events else ""
        raise ShipyardError(
            f"the canary ended {status.rollout.status} ({reason}); champion is version {champion}"
        )
    return status


def _latest_rollout(services: Services) -> int:
    found = services.rollouts.history(ENDPOINT, limit=1)
    return found[0].id if found else 0


def _rolled_back(watch: Watch, config: Project, v2: ModelVersion) -> RolloutStatus:
    from shipyard.examples.churn import BrokenModel, generate
    from shipyard.lifecycle.service import parse_gate

    services = watch.services
    sample = generate(200, 7)[0]
    v3 = services.registry.log_model(
        BrokenModel(),
        name=ENDPOINT,
        X_sample=sample[sample["usage"] <= BrokenModel().limit],
        description="a deliberately bad challenger",
    )
    # its code is ours (shipyard.examples.churn): the operator trusts it, and the audit log says so
    services.registry.trust(v3.name, v3.version)
    plan = config.rollout[ENDPOINT]  # the same canary and gates as the good challenger's
    record = services.rollouts.start(
        ENDPOINT,
        to_version=v3.version,
        strategy=plan.strategy,
        steps=tuple(plan.steps or ()),
        interval=plan.interval,
        gates=parse_gate([f"{k}={v}" for k, v in plan.gates.items()]),
        actor="demo",
    )
    status = watch.until(
        "the bad challenger's rollout finishes", lambda: _finished(services, record.id)
    )
    reason = str(status.events[-1].details.get("reason", ""))
    champion = services.registry.get_alias(ENDPOINT, "champion").version
    if status.rollout.status != "rolled_back" or "success_rate" not in reason:
        raise ShipyardError(f"the bad challenger ended {status.rollout.status}: {reason}")
    if champion != v2.version:
        raise ShipyardError(f"the champion is version {champion}, not {v2.version}")
    return status


def _report(services: Services) -> Path:
    from shipyard.monitoring.report import build_report, render_html

    data = build_report(
        services.monitoring,
        ENDPOINT,
        window=dt.timedelta(minutes=5),
        history_since=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
    )
    out = services.settings.home / "report.html"
    out.write_text(render_html(data))
    return out


def _die_with_parent() -> None:
    """In the server's process, before exec: on Linux, end when the demo ends, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _stop(server: subprocess.Popen[bytes] | None) -> None:
    if server is None:
        return
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=30)
