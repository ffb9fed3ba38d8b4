"""``shipyard demo``: the whole life of a model on the embedded default, in about a minute.

Train a first churn model, register it and make it the champion, serve it on 127.0.0.1 with the
controller, send traffic and ground truth, then let the world change: the monitor sees the drift, the
policy retrains on the recent labelled traffic, the challenger beats the champion on held-out labels,
and a canary rollout with gates promotes it. Finally a deliberately bad challenger is rolled back by
its gates. Exits 0 only if every stage happened as described.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from shipyard.core.errors import ShipyardError
from shipyard.interfaces.cli.output import console, print_table, styled

T = TypeVar("T")
ENDPOINT = "churn"
PROJECT = """\
models:
  churn:
    description: Will this customer leave within a month? (synthetic demo data)
monitors:
  churn: {window: 8s, every: 2s}
retraining:
  churn: {entrypoint: "shipyard.examples.churn:train", window: 6s, timeout: 2m, holdout: 0.25, min_rows: 150}
evaluation:
  churn: {metric: accuracy, min_absolute_change: 0.02}
rollout:
  churn:
    strategy: canary
    steps: [50, 100]
    interval: 3s
    gates: {min_requests: 5, max_prediction_psi: 100}
policies:
  - name: retrain-on-drift
    endpoint: churn
    trigger: {kind: drift, windows: 2}
    actions: [alert, retrain, evaluate, rollout]
    cooldown: 10m
"""


@dataclass
class Traffic:
    """Requests of 5 rows with their labels sent as feedback right after, in a background thread."""

    url: str
    drifted: bool = False
    sent: int = 0
    errors: int = 0
    versions: dict[str, int] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def run(self) -> None:
        import httpx

        from shipyard.examples.churn import generate

        seed = 100
        with httpx.Client(base_url=self.url, timeout=10) as http:
            while not self.stop.is_set():
                seed += 1
                frame, labels = generate(5, seed, drifted=self.drifted)
                r = http.post(
                    f"/v1/models/{ENDPOINT}/predict?probabilities=false",
                    content=frame.to_json(orient="records"),
                    headers={"content-type": "application/json"},
                )
                self.sent += 1
                version = r.headers.get("x-model-version", "?")
                self.versions[version] = self.versions.get(version, 0) + 1
                if r.status_code != 200:
                    self.errors += 1
                    continue
                http.post(
                    "/v1/feedback",
                    json={"request_id": r.headers["x-request-id"], "label": labels.tolist()},
                )
                time.sleep(0.02)

    def start(self) -> Traffic:
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        return self

    def halt(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=30)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, check: Callable[[], T | None], timeout: float, every: float = 0.5) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise ShipyardError(f"demo stage did not happen within {timeout:.0f} s: {what}")


def run_demo(home: Path | None) -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError as exc:
        from shipyard.core.errors import MissingDependency

        raise MissingDependency("scikit-learn", "sklearn") from exc
    from shipyard.app import build
    from shipyard.core.config import Settings
    from shipyard.examples.churn import FlakyModel, generate
    from shipyard.examples.churn import build as build_model

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
    os.environ.update({k: env[k] for k in ("SHIPYARD_LOG_FLUSH_INTERVAL",)})
    services = build(Settings(home=workdir, project=project, log_flush_interval=0.3))
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
    server: subprocess.Popen[str] | None = None
    traffic: Traffic | None = None
    try:
        X, y = generate(3000, 1)

        def first_model() -> Any:
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

        v1 = stage(
            "train and register the first model",
            first_model,
            lambda v: f"{v.ref}  accuracy {v.metrics['accuracy']:.3f}",
        )
        stage(
            "make it the champion",
            lambda: services.registry.set_alias(
                ENDPOINT, "champion", v1.version, reason="first model"
            ),
            lambda e: f"{ENDPOINT}@champion -> {e.to_version}",
        )
        from shipyard.lifecycle.apply import apply as reconcile
        from shipyard.lifecycle.project import load

        stage(
            "apply the project file (monitors, retraining, policy, canary)",
            lambda: reconcile(load(project), services.registry, services.deployments),
            lambda c: f"{project.name}: {len(c)} change(s)",
        )
        port = _port()
        url = f"http://127.0.0.1:{port}"

        def serve() -> str:
            nonlocal server
            server = subprocess.Popen(
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
                stderr=subprocess.PIPE,
                text=True,
            )
            import httpx

            def ready() -> bool:
                if server is not None and server.poll() is not None:
                    raise ShipyardError(
                        f"the server exited: {server.stderr.read() if server.stderr else ''}"
                    )
                try:
                    return httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200
                except httpx.HTTPError:
                    return False

            _wait("the server becomes ready", ready, 60, 0.2)
            return url

        stage("serve it with the controller", serve, lambda u: u)
        traffic = Traffic(url).start()

        def baseline() -> dict[str, Any]:
            points = _wait(
                "a monitor run without drift",
                lambda: [
                    p
                    for p in services.monitoring.store.points(ENDPOINT, metric="drift.dataset")
                    if p.value == 0.0
                ],
                40,
            )
            return {"points": len(points)}

        stage(
            "traffic and ground truth; the monitor sees no drift",
            baseline,
            lambda r: f"{traffic.sent if traffic else 0} requests, labels sent",
        )
        traffic.drifted = True

        def drift_detected() -> Any:
            return _wait(
                "the monitor flags drift",
                lambda: [
                    p
                    for p in services.monitoring.store.points(ENDPOINT, metric="drift.dataset")
                    if p.value == 1.0
                ],
                40,
            )

        stage(
            "the world changes: drift detected",
            drift_detected,
            lambda p: f"{len(p)} drifted window(s)",
        )

        def retrained() -> Any:
            return _wait(
                "the policy retrains a challenger",
                lambda: [
                    v for v in services.registry.list_versions(ENDPOINT) if v.version > v1.version
                ],
                90,
            )[0]

        v2 = stage(
            "the policy fires and retrains on recent labels",
            retrained,
            lambda v: f"{v.ref} (trigger: {v.tags.get('retrained.trigger')})",
        )

        def judged() -> Any:
            return _wait(
                "the challenger is evaluated",
                lambda: services.registry.get_version(ENDPOINT, v2.version).tags.get(
                    "evaluation.accuracy"
                ),
                60,
            )

        verdict = stage(
            "champion vs challenger on held-out labels", judged, lambda t: f"accuracy {t}"
        )
        if (
            services.registry.get_version(ENDPOINT, v2.version).tags.get("evaluation.verdict")
            != "challenger"
        ):
            raise ShipyardError(f"the challenger did not beat the champion: {verdict}")

        def promoted() -> Any:
            return _wait(
                "the canary promotes the challenger",
                lambda: (
                    services.registry.get_alias(ENDPOINT, "champion").version == v2.version
                    and services.rollouts.status(ENDPOINT)
                ),
                60,
            )

        status = stage(
            "canary rollout with gates promotes it",
            promoted,
            lambda s: " -> ".join(e.kind for e in s.events),
        )
        if status.rollout.status != "succeeded":
            raise ShipyardError(f"rollout ended {status.rollout.status}")

        def bad_rollout() -> Any:
            sample = generate(50, 7, drifted=True)[0]
            v3 = services.registry.log_model(
                FlakyModel(),
                name=ENDPOINT,
                X_sample=sample[sample["usage"] < 5.5],
                description="a deliberately bad challenger",
            )
            services.rollouts.start(
                ENDPOINT,
                to_version=v3.version,
                strategy="canary",
                steps=(50.0, 100.0),
                interval=3.0,
                gates=None,
            )
            return _wait(
                "the bad challenger is rolled back",
                lambda: (
                    (s := services.rollouts.status(ENDPOINT)).rollout.status
                    in ("rolled_back", "succeeded")
                    and s
                ),
                60,
            )

        bad = stage(
            "a deliberately bad challenger is rolled back by its gates",
            bad_rollout,
            lambda s: str(s.events[-1].details.get("reason", s.rollout.status)),
        )
        if (
            bad.rollout.status != "rolled_back"
            or services.registry.get_alias(ENDPOINT, "champion").version != v2.version
        ):
            raise ShipyardError("the bad challenger was not rolled back")
        traffic.halt()

        def report() -> Path:
            import datetime as dt

            from shipyard.monitoring.report import build_report, render_html

            data = build_report(
                services.monitoring,
                ENDPOINT,
                window=dt.timedelta(minutes=5),
                history_since=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
            )
            out = workdir / "report.html"
            out.write_text(render_html(data))
            return out

        report_path = stage("write the monitoring report", report, lambda p: str(p))
    finally:
        if traffic is not None:
            traffic.halt()
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
            if server.stderr is not None:
                server.stderr.close()
        services.close()
    total = time.perf_counter() - started_all
    console.print()
    print_table(
        "what happened", ["stage", "seconds", "result"], [(t, f"{s:.1f}", d) for t, s, d in timings]
    )
    console.print(
        styled(
            (f"done in {total:.0f} s", "bold"),
            f"; requests: {traffic.sent if traffic else 0}, "
            f"answered by version: {json.dumps(traffic.versions if traffic else {})}",
        )
    )
    console.print(f"report: {report_path}")
    console.print(
        f"audit log: shipyard --home {workdir} audit   |   "
        f"serve again: shipyard --home {workdir} serve {ENDPOINT}@champion (then /metrics, /docs)"
    )
