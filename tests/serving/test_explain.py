"""The explain routes in process: native and KServe bodies, the version that answered is the one
explained, client mistakes are 400s naming the field, metrics, and sampled explanations in the log."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.app import build
from shipyard.core.config import Settings
from shipyard.interfaces.http.app import create_app
from shipyard.interfaces.http.config import EndpointConfig, ServeConfig
from shipyard.interfaces.sdk import Client
from shipyard.telemetry import LogReader
from tests.serving.asgi import InProcessServer

pytest.importorskip("shap")


@pytest.fixture(scope="module")
def home(
    tmp_path_factory: pytest.TempPathFactory,
    mixed_frame: tuple[pd.DataFrame, pd.Series],
    mixed_pipeline: Any,
) -> Path:
    home = tmp_path_factory.mktemp("explain-home")
    X, y = mixed_frame
    with Client(home=home) as client:
        client.log_model(mixed_pipeline, name="mixed", X_sample=X, y_sample=y)
    return home


def _serve(home: Path, **config: Any) -> Iterator[InProcessServer]:
    services = build(Settings(home=home))
    app = create_app(
        services,
        ServeConfig(
            endpoints=[EndpointConfig(name="mixed", ref="mixed@latest")],
            controller=False,
            **config,
        ),
    )
    server = InProcessServer(app)
    try:
        deadline = time.monotonic() + 60
        while server.get("/v2/health/ready").status_code != 200:
            assert time.monotonic() < deadline, server.get("/v2/health/ready").text
            time.sleep(0.05)
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[InProcessServer]:
    yield from _serve(home, log_predictions=False)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def test_native_explain_answers_per_row_with_additivity(
    server: InProcessServer, mixed_frame: tuple[pd.DataFrame, pd.Series], mixed_pipeline: Any
) -> None:
    X, _ = mixed_frame
    rows = X.head(4)
    response = server.post("/v1/models/mixed/explain", json={"records": _records(rows)})
    assert response.status_code == 200, response.text
    assert response.headers["x-model-version"] == "1"
    body = response.json()
    assert (body["method"], body["exact"], body["output"]) == ("tree_shap", True, "probability")
    assert body["columns"] == list(X.columns)
    expected = mixed_pipeline.predict_proba(rows)[:, 1]
    for row, want, label in zip(
        body["explanations"], expected, mixed_pipeline.predict(rows), strict=True
    ):
        assert set(row["attributions"]) == set(X.columns)
        total = row["base_value"] + sum(row["attributions"].values())
        assert abs(total - want) < 1e-6
        assert row["prediction"] == label
        assert row["explained_class"] == 1


def test_kserve_explain_accepts_instances_and_a_target(
    server: InProcessServer, mixed_frame: tuple[pd.DataFrame, pd.Series], mixed_pipeline: Any
) -> None:
    X, _ = mixed_frame
    rows = X.head(2)
    response = server.post(
        "/v1/models/mixed:explain", json={"instances": _records(rows), "target": 0}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    expected = mixed_pipeline.predict_proba(rows)[:, 0]
    got = [r["output_value"] for r in body["explanations"]]
    assert np.abs(np.array(got) - expected).max() < 1e-6
    assert {r["explained_class"] for r in body["explanations"]} == {0}


def test_explain_client_mistakes_are_400s_naming_the_field(
    server: InProcessServer, mixed_frame: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, _ = mixed_frame
    bad = _records(X.head(1))
    bad[0]["age"] = "old"
    response = server.post("/v1/models/mixed/explain", json={"records": bad})
    assert response.status_code == 400
    assert response.json()["field"] == "age"
    wrong_class = server.post(
        "/v1/models/mixed/explain", json={"records": _records(X.head(1)), "target": "maybe"}
    )
    assert wrong_class.status_code == 400
    assert "target" in wrong_class.json()["error"]
    assert server.post("/v1/models/mixed:explain", json={"instances": []}).status_code == 400
    assert server.post("/v1/models/nope/explain", json=[{"a": 1}]).status_code == 404
    metrics = server.get("/metrics").text
    assert 'protocol="explain"' in metrics


def test_explain_sample_logs_attributions_with_the_prediction(
    tmp_path: Path, home: Path, mixed_frame: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, _ = mixed_frame
    for server in _serve(home, log_predictions=True, explain_sample=1.0):
        response = server.post("/v1/models/mixed/predict", json={"records": _records(X.head(3))})
        assert response.status_code == 200
        rid = response.json()["request_id"]
    # the server closed: its writer flushed everything it was handed, explanations included
    frame = LogReader(str(home / "logs")).predictions("mixed")
    logged = frame[frame["request_id"] == rid]
    assert len(logged) == 3
    xp = [c for c in logged.columns if c.startswith("xp.")]
    assert set(xp) == {f"xp.{c}" for c in X.columns} | {"xp.base"}
    totals = logged[xp].sum(axis=1).to_numpy()
    assert np.abs(totals - logged["out.proba.1"].to_numpy()).max() < 1e-6
