"""Monitoring end to end: a real server logs predictions, feedback arrives, monitors detect drift."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from shipyard.interfaces.sdk import Client
from shipyard.telemetry.reader import LogReader

from ..helpers import cli_json
from ..serving.conftest import Server, start_server


def make_data(n: int, seed: int, shift: float = 0.0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "income": rng.normal(50_000 + shift * 30_000, 15_000, n),
            "plan": rng.choice(
                ["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2] if not shift else [0.1, 0.2, 0.7]
            ),
            "score": rng.normal(shift * 2, 1, n),
        }
    )
    logits = 0.04 * (frame["age"] - 50) + 0.8 * frame["score"] + (frame["plan"] == "pro") * 0.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(int)
    return frame, y.to_numpy()


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Server]:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    home = tmp_path_factory.mktemp("monitored")
    X, y = make_data(4000, 1)
    model = Pipeline(
        [
            (
                "pre",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), ["age", "income", "score"]),
                        ("cat", OneHotEncoder(), ["plan"]),
                    ]
                ),
            ),
            ("lr", LogisticRegression(max_iter=1000)),
        ]
    ).fit(X.iloc[:2000], y[:2000])
    with Client(home=home) as client:
        client.log_model(model, name="churn", X_sample=X.iloc[2000:], y_sample=y[2000:])
        client.set_alias("churn", "champion", 1)
    server = start_server(home, "churn@champion")
    yield home, server
    server.stop()


def send(server: Server, frame: pd.DataFrame, batch: int = 50) -> list[str]:
    ids = []
    with httpx.Client(base_url=server.url) as http:
        for start in range(0, len(frame), batch):
            rows = json.loads(frame.iloc[start : start + batch].to_json(orient="records"))
            resp = http.post("/v1/models/churn/predict", json=rows)
            assert resp.status_code == 200, resp.text
            ids.append(resp.json()["request_id"])
    return ids


def cli(home: Path, *args: str) -> Any:
    return cli_json(home, *args)


def test_feedback_drift_performance_and_alerts(monitored: tuple[Path, Server]) -> None:
    home, server = monitored
    X, y = make_data(1000, 2)
    ids = send(server, X)
    labels = [y[i * 50 : (i + 1) * 50].tolist() for i in range(len(ids))]
    with httpx.Client(base_url=server.url) as http:
        wrong = [1 - v for v in labels[0]]
        first = http.post("/v1/feedback", json=[{"request_id": ids[0], "label": wrong}]).json()
        assert first["accepted"] == 50
        refused = http.post("/v1/feedback", json={"request_id": ids[0], "label": labels[0]})
        assert refused.status_code == 409  # relabelling needs "overwrite": true
        result = http.post(
            "/v1/feedback",
            json={
                "overwrite": True,
                "items": [
                    *(
                        {"request_id": rid, "label": lab}
                        for rid, lab in zip(ids, labels, strict=True)
                    ),
                    {"request_id": "no-such-request", "label": 1},
                    {"request_id": ids[1], "label": [1, 0]},
                ],
            },
        ).json()
    assert result["accepted"] == 1000 and result["unknown_ids"] == ["no-such-request"]
    with Client(server.url) as remote:  # the SDK sends feedback too; resending replaces
        assert remote.feedback({ids[0]: labels[0]}, overwrite=True)["accepted"] == 50
    assert result["mismatched"] == [[ids[1], 50, 2]]
    report = cli(home, "monitor", "run", "churn", "--window", "1h")
    assert report["rows"] == 1000 and report["dataset"]["drift"] is False  # type: ignore[index]
    features = report["features"]
    assert set(features) == {"age", "income", "plan", "score"}  # type: ignore[arg-type]
    assert all(f["drift"] is False for f in features.values())  # type: ignore[union-attr]
    assert "ks" in features["income"]["results"] and "chisquare" in features["plan"]["results"]  # type: ignore[index]
    perf = report["performance"]
    assert report["label_coverage"] == 1.0  # type: ignore[index]
    assert 0.6 < perf["accuracy"] <= 1.0 and "roc_auc" in perf and "log_loss" in perf  # type: ignore[index]
    est = report["estimated_performance"]
    assert est is not None and abs(est["accuracy"] - perf["accuracy"]) < 0.08  # type: ignore[index]
    # now the world shifts
    Xd, _ = make_data(1000, 3, shift=1.5)
    send(server, Xd)
    drifted = cli(home, "monitor", "run", "churn", "--window", "1h")
    assert drifted["dataset"]["drift"] is True  # type: ignore[index]
    assert {"income", "plan", "score"} <= set(drifted["dataset"]["drifted"])  # type: ignore[index]
    assert "age" not in drifted["dataset"]["drifted"]  # type: ignore[index]
    assert drifted["prediction_drift"]["drift"] is True  # type: ignore[index]
    assert any("drift.dataset" in a["alert"]["rule"] for a in drifted["alerts"])  # type: ignore[union-attr]
    alerts = cli(home, "alerts", "list", "--endpoint", "churn", "--status", "open")
    assert any(a["rule"] == "drift.dataset:above" for a in alerts)  # type: ignore[union-attr]
    history = cli(home, "monitor", "history", "churn", "--metric", "drift.dataset")
    assert [p["value"] for p in history] == [0.0, 1.0]  # type: ignore[union-attr]
    rows = cli(home, "logs", "query", "--endpoint", "churn", "--limit", "5")
    assert len(rows) == 5 and rows[0]["status"] == "ok"  # type: ignore[index]
    # the server publishes the latest run (made by another process, the CLI) on /metrics
    with httpx.Client(base_url=server.url) as http:
        text = http.get("/metrics").text
    assert 'shipyard_dataset_drift{endpoint="churn"} 1.0' in text
    assert 'shipyard_drift_detected{endpoint="churn",feature="income"} 1.0' in text
    assert 'shipyard_drift_detected{endpoint="churn",feature="age"} 0.0' in text
    ks = re.search(
        r'shipyard_drift_score\{endpoint="churn",feature="income",stat="ks"\} (\S+)', text
    )
    income = drifted["features"]["income"]["results"]["ks"]["statistic"]  # type: ignore[index]
    assert ks is not None and float(ks.group(1)) == pytest.approx(income)
    assert 'stat="psi"' in text and 'stat="wasserstein"' in text and 'stat="p_value"' in text
    estimated = drifted["estimated_performance"]["accuracy"]  # type: ignore[index]
    accuracy = re.search(
        r'shipyard_estimated_performance\{endpoint="churn",metric="accuracy"\} (\S+)', text
    )
    assert accuracy is not None and float(accuracy.group(1)) == pytest.approx(estimated)
    assert "process_resident_memory_bytes" in text and "python_info" in text


def test_all_missing_column_alerts_not_crashes(
    tmp_path: Path, mixed_frame: tuple[pd.DataFrame, pd.Series], mixed_pipeline: object
) -> None:
    from shipyard.app import build
    from shipyard.core.config import Settings
    from shipyard.telemetry.records import PredictionEvent

    X, y = mixed_frame
    services = build(Settings(home=tmp_path / "h"))
    try:
        v = services.registry.log_model(mixed_pipeline, name="mixed", X_sample=X, y_sample=y)
        window = X.head(200).assign(tenure=np.nan)  # the nullable column stops arriving
        writer = services.log_writer()
        for start in range(0, 200, 20):
            part = window.iloc[start : start + 20]
            writer.submit(
                PredictionEvent(
                    request_id=f"r{start}",
                    ts=time.time(),
                    endpoint="mixed",
                    model="mixed",
                    version=v.version,
                    route="primary",
                    status="ok",
                    latency_ms=1.0,
                    inputs=part,
                    predictions=mixed_pipeline.predict(part),  # type: ignore[attr-defined]
                    probabilities=mixed_pipeline.predict_proba(part),  # type: ignore[attr-defined]
                    classes=(0, 1),
                )
            )
        writer.close()
        result = services.monitoring.run("mixed")
        tenure = result.inputs.columns["tenure"]  # type: ignore[union-attr]
        assert tenure.all_missing and tenure.drift and "missing" in tenure.reason
        assert result.values()["data.all_missing_columns"] == 1.0
        assert any(
            n.alert.rule == "data.all_missing_columns:above" and n.alert.severity == "critical"
            for n in result.notifications
        )
        assert not result.inputs.columns["age"].drift  # type: ignore[union-attr]
    finally:
        services.close()


def test_sigkill_loses_at_most_the_last_flush_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipyard.testing import ThresholdModel

    home = tmp_path / "kill"
    with Client(home=home) as client:
        client.log_model(
            ThresholdModel("x", 0.0), name="m", X_sample=pd.DataFrame({"x": [0.0, 1.0]})
        )
    monkeypatch.setenv("SHIPYARD_LOG_FLUSH_INTERVAL", "0.25")
    server = start_server(home, "m@latest")
    answered: list[tuple[float, str]] = []
    with httpx.Client(base_url=server.url) as http:
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            resp = http.post("/v1/models/m/predict", json=[{"x": 1.0}])
            answered.append((time.monotonic(), resp.json()["request_id"]))
    killed_at = time.monotonic()
    server.stop(signal.SIGKILL)
    segments = list((home / "logs").rglob("*.parquet"))
    assert segments and all(p.name.startswith("part-") for p in segments)
    for p in segments:
        pq.read_table(p)  # every segment opens: no torn file
    logged = set(LogReader(str(home / "logs")).predictions("m")["request_id"])
    safe = {
        rid for t, rid in answered if t < killed_at - 1.0
    }  # older than the flush interval + slack
    assert safe <= logged
    assert len(logged) >= len(answered) * 0.5
