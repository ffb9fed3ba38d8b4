"""Console page-timing benchmark on a large registry: every page's server time, in process.

The fixture (built once under ``--home``, reused when it exists):

- 200 models x 50 versions. One real package is registered with the SDK; the other 9,999 version
  rows are bulk-inserted pointing at its manifest and blobs (what a page reads is the rows), with
  three aliases per model and ten moves of ``champion`` each;
- 20 endpoints (stored deployments on ``model-NNN@champion``), each with a week of hourly monitor
  windows (168 x 46 metric points: 155k points in all), alerts, 60 audit events of a closed loop,
  and on five of them a canary rollout with 100 recorded gate evaluations;
- 1,000,000 logged predictions (50,000 rows per endpoint, in 5,000-row requests) in the prediction
  log, which no page may read.

Each page is requested through ``httpx.ASGITransport`` against the whole app of ``shipyard serve``,
signed in with an admin token; a page's time is the median of ``--repeats`` requests after one warm
request, with the CPU time the process spent on it (on a shared machine the wall time includes
waiting for a core). The baseline is the sign-in form (a template render with no query), measured in
the same run. Goal: every page <= 150 ms.

    PYTHONPATH=src python bench/console.py [--home /tmp/console-bench] [--repeats 7] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import statistics
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from shipyard.app import Services, build
from shipyard.core.config import Settings
from shipyard.interfaces.http.app import create_app
from shipyard.interfaces.http.config import ServeConfig
from shipyard.registry.deployments import DeploymentSpec
from shipyard.registry.entities import MetricPoint
from shipyard.registry.sql.tables import alias_events, aliases, model_versions, registered_models
from shipyard.telemetry.records import PredictionEvent
from shipyard.testing import ThresholdModel

MODELS, VERSIONS, ENDPOINTS = 200, 50, 20
WINDOWS = 168
FEATURES = [f"f{i}" for i in range(10)]
PREDICTIONS, REQUEST_ROWS = 1_000_000, 5_000
ROLLOUTS, EVALUATIONS = 5, 100
GOAL_MS = 150.0
BASE = "http://127.0.0.1:8000"


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({f: rng.normal(0, 1, rows) for f in FEATURES})


def _us(at: dt.datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def build_fixture(home: Path) -> str:
    """The large registry under ``home``; returns an admin token's secret."""
    services = build(Settings(home=home), actor="bench")
    started = time.perf_counter()
    template = services.registry.log_model(
        ThresholdModel("f0", 0.0), name="model-000", X_sample=_frame(200, 0)
    )
    now = dt.datetime.now(dt.UTC)
    at = _us(now - dt.timedelta(days=30))
    with services.store.write() as conn:
        conn.execute(
            registered_models.insert(),
            [
                {
                    "name": f"model-{m:03d}",
                    "description": f"bench model {m}",
                    "next_version": VERSIONS + 1,
                    "created_at": at,
                    "updated_at": at,
                }
                for m in range(1, MODELS)
            ],
        )
        conn.execute(
            registered_models.update()
            .where(registered_models.c.name == "model-000")
            .values(next_version=VERSIONS + 1)
        )
        rows = [
            {
                "name": f"model-{m:03d}",
                "version": v,
                "digest": template.digest,
                "manifest_blob": template.manifest_blob,
                "flavor": template.flavor,
                "description": f"version {v}",
                "metrics": {"accuracy": 0.7 + v / 500, "auc": 0.8},
                "params": {"threshold": v / 100},
                "size_bytes": template.size_bytes,
                "created_at": at + v * 3_600_000_000,
                "created_by": "bench",
            }
            for m in range(MODELS)
            for v in range(1, VERSIONS + 1)
            if (m, v) != (0, 1)
        ]
        conn.execute(model_versions.insert(), rows)
        conn.execute(
            aliases.insert(),
            [
                {
                    "name": f"model-{m:03d}",
                    "alias": a,
                    "version": v,
                    "updated_at": at,
                    "updated_by": "bench",
                }
                for m in range(MODELS)
                for a, v in (
                    ("champion", VERSIONS),
                    ("challenger", VERSIONS - 1),
                    ("staging", VERSIONS - 2),
                )
            ],
        )
        conn.execute(
            alias_events.insert(),
            [
                {
                    "name": f"model-{m:03d}",
                    "alias": "champion",
                    "from_version": k * 5 or None,
                    "to_version": (k + 1) * 5,
                    "actor": "bench",
                    "at": at + k * 1000,
                    "reason": "bench",
                }
                for m in range(MODELS)
                for k in range(10)
            ]
            + [
                {
                    "name": f"model-{m:03d}",
                    "alias": a,
                    "from_version": None,
                    "to_version": v,
                    "actor": "bench",
                    "at": at,
                    "reason": "bench",
                }
                for m in range(MODELS)
                for a, v in (("challenger", VERSIONS - 1), ("staging", VERSIONS - 2))
            ],
        )
    print(f"models and versions: {time.perf_counter() - started:.1f} s")
    for e in range(ENDPOINTS):
        _endpoint(services, e, now)
    print(f"endpoints, points, audit and rollouts: {time.perf_counter() - started:.1f} s")
    _predictions(services, template.version, now)
    print(f"1M predictions: {time.perf_counter() - started:.1f} s")
    secret = services.tokens.create("bench-admin", ["admin"], actor="bench").secret
    services.close()
    return secret


def _endpoint(services: Services, e: int, now: dt.datetime) -> None:
    name, model = f"ep-{e:02d}", f"model-{e:03d}"
    services.deployments.create(name, DeploymentSpec.single(f"{model}@champion"), actor="bench")
    points = []
    for w in range(WINDOWS):
        end = now - dt.timedelta(hours=WINDOWS - w)
        start = end - dt.timedelta(hours=1)
        drifted = w > WINDOWS - 6
        values = {
            "rows": 300.0,
            "requests": 300.0 + w % 7,
            "latency.p50_ms": 4.0,
            "latency.p95_ms": 9.0,
            "latency.p99_ms": 14.0,
            "errors.rate": 0.001,
            "throughput.rps": 0.08,
            "drift.dataset": float(drifted),
            "drift.share": 0.3 if drifted else 0.0,
            "labels.coverage": 0.5,
            "performance.accuracy": 0.85,
            "estimated.accuracy": 0.84,
            "estimated.roc_auc": 0.9,
            "prediction_drift.dataset": 0.0,
            "labels.invalid": 0.0,
            "data.unexpected_columns": 0.0,
        }
        for f in FEATURES:
            values[f"feature.{f}.drift"] = float(drifted and f in ("f0", "f1", "f2"))
            values[f"feature.{f}.psi"] = 0.3 if drifted else 0.02
            values[f"feature.{f}.missing_share"] = 0.0
        points += [MetricPoint(name, m, v, start, end, version=VERSIONS) for m, v in values.items()]
    services.monitor_store.add_points(points)
    services.monitor_store.raise_alert(
        endpoint=name,
        monitor="default",
        rule="drift.dataset:above",
        severity="warning",
        message="dataset drift",
        value=1.0,
        threshold=1.0,
    )
    for k in range(20):
        services.registry.record(
            "policy.fire", name, {"policy": "p", "why": {"trigger": "drift"}}, actor="controller"
        )
        services.registry.record(
            "retrain.done",
            name,
            {"version": f"{model}/{k + 1}", "log_tail": "x" * 500},
            actor="controller",
        )
        services.registry.record(
            "evaluation",
            f"{model}/{k + 1}",
            {"verdict": "challenger", "metric": "accuracy"},
            actor="controller",
        )
    if e < ROLLOUTS:
        record = services.rollouts.start(
            name, to_version=VERSIONS - 1, interval=3600.0, actor="bench"
        )
        gates = [{"name": "success_rate", "value": 1.0, "limit": 0.99, "passed": True}] * 6
        for _ in range(EVALUATIONS):
            record = services.rollouts.store.update_rollout(
                record.id,
                "running",
                dict(record.state),
                actor="controller",
                kind="hold",
                details={
                    "analysis": {
                        "verdict": "inconclusive",
                        "reason": "few requests",
                        "gates": gates,
                    },
                    "weight": 10.0,
                },
            )


def _predictions(services: Services, version: int, now: dt.datetime) -> None:
    writer = services.log_writer()
    per_endpoint = PREDICTIONS // ENDPOINTS
    frame = _frame(REQUEST_ROWS, 1)
    preds = (frame["f0"] > 0).to_numpy().astype(np.int64)
    for e in range(ENDPOINTS):
        for r in range(per_endpoint // REQUEST_ROWS):
            writer.submit(
                PredictionEvent(
                    request_id=f"ep{e}-{r}",
                    ts=(now - dt.timedelta(minutes=r)).timestamp(),
                    endpoint=f"ep-{e:02d}",
                    model=f"model-{e:03d}",
                    version=version,
                    route="primary",
                    status="ok",
                    latency_ms=4.0,
                    inputs=frame,
                    predictions=preds,
                )
            )
        writer.flush()
    writer.close()
    assert writer.written_rows == PREDICTIONS, writer.written_rows


PAGES = {
    "sign-in (baseline)": "/ui/sign-in",
    "overview": "/ui",
    "models": "/ui/models",
    "model": "/ui/models/model-003",
    "version": "/ui/models/model-003/versions/50",
    "compare": "/ui/models/model-003/compare?a=49&b=50",
    "monitoring": "/ui/endpoints/ep-03/monitoring",
    "story": "/ui/endpoints/ep-03/story",
    "rollouts": "/ui/rollouts",
    "rollout": "/ui/rollouts/ep-03",
    "approvals": "/ui/approvals",
    "alerts": "/ui/alerts",
    "audit": "/ui/audit",
}


async def measure(
    home: Path, secret: str, repeats: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall and CPU milliseconds of each request (CPU: this process, all threads)."""
    services = build(Settings(home=home), actor="bench")
    app = create_app(services, ServeConfig(endpoints=[], controller=False, log_predictions=False))
    timings: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client,
    ):
        form = await client.get("/ui/sign-in")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        signed = await client.post("/ui/sign-in", data={"csrf": csrf.group(1), "token": secret})
        assert signed.status_code == 303, signed.text
        for name, path in PAGES.items():
            warm = await client.get(path)
            assert warm.status_code == 200, f"{path}: {warm.status_code} {warm.text[:300]}"
            runs, cpus = [], []
            for _ in range(repeats):
                started, used = time.perf_counter(), time.process_time()
                response = await client.get(path)
                runs.append((time.perf_counter() - started) * 1000)
                cpus.append((time.process_time() - used) * 1000)
                assert response.status_code == 200
            timings[name], cpu[name] = runs, cpus
    return timings, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=Path("/tmp/shipyard-console-bench"))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    token_file = args.home / "bench-token"
    if not token_file.exists():
        args.home.mkdir(parents=True, exist_ok=True)
        token_file.write_text(build_fixture(args.home))
    load = os.getloadavg()[0]
    timings, cpu = asyncio.run(measure(args.home, token_file.read_text(), args.repeats))
    base = statistics.median(timings["sign-in (baseline)"])
    print(f"load: {load:.2f} -> {os.getloadavg()[0]:.2f} (1 min)   repeats: {args.repeats}")
    print(
        f"{'page':<20}{'median ms':>10}{'best ms':>9}{'CPU ms':>8}{'x baseline':>11}"
        f"  goal {GOAL_MS:.0f} ms (median)"
    )
    failed = []
    for name, runs in timings.items():
        median = statistics.median(runs)
        verdict = "PASS" if median <= GOAL_MS else "FAIL"
        if verdict == "FAIL":
            failed.append(name)
        print(
            f"{name:<20}{median:>10.1f}{min(runs):>9.1f}{statistics.median(cpu[name]):>8.1f}"
            f"{median / base:>11.1f}  {verdict}"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"baseline_ms": base, "wall_ms": timings, "cpu_ms": cpu}, indent=2)
        )
    print("all pages within the goal" if not failed else f"over the goal: {', '.join(failed)}")


if __name__ == "__main__":
    main()
